"""Start a real, throwaway PostgreSQL server for the test suite (never mocked).

Uses Debian's ``postgresql`` binaries (``/usr/lib/postgresql/*/bin``). As root, the server
runs as the ``postgres`` system user (PostgreSQL refuses to run as root). Set
``FINLIB_TEST_PG_URL`` to use an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _pg_bin() -> Path | None:
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if cands:
        return Path(cands[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, options: str = "") -> None:
        self.options = options  # extra `postgres` options, e.g. "-c ssl=on"
        self.bin = _pg_bin()
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL binaries not found: install Debian's `postgresql` "
                "(.ci/run does), or set FINLIB_TEST_PG_URL"
            )
        self.root = Path(tempfile.mkdtemp(prefix="finlib-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "finlib",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                   "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off " + self.options,
                   "-w", "-t", "60", "start"])
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self._run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)])
                break
            except subprocess.CalledProcessError:
                time.sleep(0.3)
        return f"postgresql+psycopg://finlib@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://finlib@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://finlib@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        except (subprocess.CalledProcessError, OSError):  # already stopped, or never started
            pass
        shutil.rmtree(self.root, ignore_errors=True)
