"""tools/system-deps.sh: the one check of the Debian packages that `make test` and .ci/run need.

Each test runs the real script with a PATH of stub commands, so a package can be made to
look absent without touching the machine; ``apt-get`` and ``sudo`` are stubs that only
record how they were called, so nothing is ever installed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
RUNUSER, ENV = shutil.which("runuser"), shutil.which("env")

pytestmark = pytest.mark.skipif(not Path(BASH).exists(), reason="bash is needed to run the script")


@pytest.fixture
def stubs():
    """A world-readable folder for stub commands (``runuser -u nobody`` must reach it)."""
    d = Path(tempfile.mkdtemp(prefix="finlib-sysdeps-", dir="/tmp"))
    d.chmod(0o755)
    (d / "bin").mkdir()
    (d / "bin").chmod(0o755)
    calls = d / "calls"
    calls.touch()
    calls.chmod(0o666)

    def add(name: str, body: str = "exit 0") -> None:
        p = d / "bin" / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)

    (d / "tmp").mkdir()
    (d / "tmp").chmod(0o777)
    add.bin = d / "bin"
    add.tmp = d / "tmp"
    add.calls = calls
    # everything the tests need, present (apt-get records its calls and installs nothing)
    for name in ("chromium", "runuser", "make", "initdb"):
        add(name)
    add("apt-get", f'echo "apt-get $*" >> {calls}')
    yield add
    shutil.rmtree(d, ignore_errors=True)


def run(args, stubs, *, env=None, user=None, timeout=10):
    e = {"PATH": str(stubs.bin), "PYTHON": sys.executable, "HOME": "/tmp", "TMPDIR": str(stubs.tmp)}
    e.update(env or {})
    cmd = [BASH, str(SCRIPT), *args]
    if user:
        cmd = [RUNUSER, "-u", user, "--", ENV, *(f"{k}={v}" for k, v in e.items()), *cmd]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout, cwd="/")
    return p, time.monotonic() - t0


def test_everything_present_exits_zero_and_prints_nothing(stubs):
    p, _ = run([], stubs)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert stubs.calls.read_text() == ""


def test_missing_chromium_without_install_rights_stops_at_once_with_one_line(stubs):
    (stubs.bin / "chromium").unlink()
    p, seconds = run(["test"], stubs, env={"FINLIB_SYSTEM_DEPS_INSTALL": "no"})
    assert p.returncode == 1
    assert seconds < 5
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "chromium" in lines[0] and "apt-get install -y chromium" in lines[0]
    assert "postgresql" not in lines[0] and "util-linux" not in lines[0]
    assert stubs.calls.read_text() == ""  # never tried to install


@pytest.mark.skipif(os.geteuid() != 0 or not RUNUSER, reason="needs root to become nobody")
def test_a_user_who_cannot_install_gets_one_line_naming_chromium(stubs):
    (stubs.bin / "chromium").unlink()
    p, seconds = run(["test"], stubs, user="nobody")  # no sudo on PATH, not root: cannot install
    assert p.returncode == 1, p.stderr
    assert seconds < 5
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "missing system packages: chromium;" in lines[0]
    assert stubs.calls.read_text() == ""


@pytest.mark.skipif(os.geteuid() != 0 or not RUNUSER, reason="needs root to become nobody")
def test_passwordless_sudo_installs_the_missing_packages_with_apt_get(stubs):
    (stubs.bin / "chromium").unlink()
    (stubs.bin / "runuser").unlink()
    stubs("true")
    stubs("sudo", '[ "$1" = -n ] && shift; exec "$@"')
    p, _ = run(["test"], stubs, user="nobody")
    calls = stubs.calls.read_text().splitlines()
    assert len(calls) == 2, p.stderr
    assert calls[0] == "apt-get update -qq"
    assert calls[1] == "apt-get install -y -qq --no-install-recommends chromium util-linux"
    # the stub installed nothing, so the re-check says so, in one line
    assert p.returncode == 1
    assert p.stderr.splitlines()[-1].startswith("finlib: still missing after apt-get install: chromium util-linux")
    assert len(p.stderr.splitlines()) == 2  # "installing ..." then the verdict


def test_groups_check_only_their_packages(stubs):
    """`make run` needs only the venv group; chromium and postgresql belong to `test`."""
    (stubs.bin / "chromium").unlink()
    (stubs.bin / "make").unlink()
    stubs("nopip-python", "exit 1")  # a Python whose ensurepip is missing (Debian without python3-venv)
    env = {"PYTHON": str(stubs.bin / "nopip-python"), "FINLIB_SYSTEM_DEPS_INSTALL": "no"}
    p, _ = run(["venv"], stubs, env=env)
    assert p.returncode == 1 and "packages: python3-venv;" in p.stderr
    p, _ = run(["test"], stubs, env=env)
    assert p.returncode == 1 and "packages: chromium;" in p.stderr
    p, _ = run(["all"], stubs, env=env)
    assert "packages: python3-venv chromium make;" in p.stderr
    p, _ = run(["nonsense"], stubs, env=env)
    assert p.returncode == 2 and "unknown group 'nonsense'" in p.stderr


def test_an_external_postgres_server_makes_the_binaries_unnecessary(stubs):
    (stubs.bin / "initdb").unlink()
    p, _ = run(["test"], stubs, env={"FINLIB_TEST_PG_URL": "postgresql://x@127.0.0.1/x",
                                     "FINLIB_SYSTEM_DEPS_INSTALL": "no"})
    assert (p.returncode, p.stderr) == (0, "")


@pytest.mark.skipif(not shutil.which("make"), reason="needs GNU make")
def test_make_test_stops_before_building_the_venv(stubs, tmp_path):
    """A fresh checkout without Chromium: `make test` fails within seconds, no .venv, no pip."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    (stubs.bin / "chromium").unlink()
    os.symlink(shutil.which("make"), stubs.bin / "gmake")
    os.symlink(BASH, stubs.bin / "bash")
    env = {"PATH": str(stubs.bin), "FINLIB_SYSTEM_DEPS_INSTALL": "no",
           "PYTHON": sys.executable, "HOME": "/tmp"}
    t0 = time.monotonic()
    p = subprocess.run([str(stubs.bin / "gmake"), "test", f"PYTHON={sys.executable}"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=30)
    assert time.monotonic() - t0 < 5
    assert p.returncode != 0
    ours = [line for line in p.stderr.splitlines() if line.startswith("finlib:")]
    assert len(ours) == 1 and "chromium" in ours[0], p.stderr
    assert not (tmp_path / ".venv").exists()
    assert "pip" not in p.stdout + p.stderr


def test_make_run_does_not_check_test_packages_and_ci_uses_the_script():
    if not shutil.which("make"):
        pytest.skip("needs GNU make")
    dry = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "MAKEFLAGS": ""}, timeout=30).stdout
    assert "system-deps.sh test" not in dry
    dry_test = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout
    assert "system-deps.sh test" in dry_test
    assert dry_test.index("system-deps.sh test") < dry_test.index("pip install")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tools/system-deps.sh" in ci and "apt-get" not in ci
