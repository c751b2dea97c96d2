"""A real dashboard server and a headless Chromium, for tests and ``bench/``.

Nothing here runs in production. Playwright and psutil are test dependencies, loaded on first
use (``lazy_loader``), so importing this module never needs them.

>>> with DashboardServer(notebooks, db_url) as srv:          # doctest: +SKIP
...     srv.wait_for_pools()
...     with chromium() as browser:
...         page = browser.new_page(); page.goto(srv.url + "voila/render/x.ipynb")
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lazy_loader as lazy

psutil = lazy.load("psutil")
playwright_sync = lazy.load("playwright.sync_api", suppress_warning=True)

CHROMIUM = os.environ.get("FINLIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
#: third-party assets Voilà's templates link (icon fonts); tests serve them empty
EXTERNAL_ASSET_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """``python -m finlib.dashboards serve`` in a subprocess (own process group)."""

    def __init__(
        self,
        notebooks: Path,
        db_url: str,
        *,
        port: int | None = None,
        ip: str = "127.0.0.1",
        pool_size: int | None = None,
        no_auth: bool = False,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
    ):
        self.notebooks = Path(notebooks)
        self.port = port or free_port()
        self.ip = ip
        self.pool_size = pool_size
        self.no_auth = no_auth
        self.env = {**os.environ, "FINLIB_DB_URL": db_url, **(env or {})}
        self.env.setdefault("FINLIB_DASHBOARD_LOG", str(Path(tempfile.gettempdir()) / f"finlib-dash-{self.port}.log"))
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"finlib-voila-{self.port}.log"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def tls(self) -> bool:
        return bool(self.env.get("FINLIB_TLS_CERT"))

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def ssl_context(self):
        """For a test server's self-signed certificate: no verification."""
        return ssl._create_unverified_context() if self.tls else None  # noqa: S323 - test certificate

    def render_url(self, notebook: str, query: str = "") -> str:
        return f"{self.url}voila/render/{notebook}" + (f"?{query}" if query else "")

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "finlib.dashboards", "serve", "--port", str(self.port),
               "--ip", self.ip, "--notebooks", str(self.notebooks)]
        if self.pool_size is not None:
            cmd += ["--pool-size", str(self.pool_size)]
        if self.no_auth:
            cmd.append("--no-auth")
        return cmd

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> DashboardServer:
        self._log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(), env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dashboard server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2, context=self.ssl_context()) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"dashboard server not ready in {self.startup_timeout:.0f} s:\n{self.log()}")

    def login(self, name: str, password: str) -> str:
        """Log in through the form (XSRF cookie and field, like a browser); the session cookie
        value. Raises ``urllib.error.HTTPError`` (403) when refused."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                             urllib.request.HTTPSHandler(context=self.ssl_context()))
        with opener.open(self.url + "login", timeout=30) as r:
            form = r.read().decode()
        xsrf = re.search(r"name='_xsrf' value='([^']+)'", form).group(1)
        data = urllib.parse.urlencode({"_xsrf": xsrf, "username": name, "password": password,
                                       "next": "/"}).encode()
        with opener.open(self.url + "login", data=data, timeout=60):
            pass
        for c in jar:
            if c.name == "finlib_session":
                return c.value
        raise RuntimeError("no session cookie after login")

    def login_context(self, context, name: str, password: str) -> None:
        """Give a Playwright browser context the session of ``name``."""
        context.add_cookies([{"name": "finlib_session", "value": self.login(name, password),
                              "url": self.url, "httpOnly": True, "sameSite": "Lax"}])

    def pools_filled(self) -> int:
        return self.log().count("Kernel pool of ")

    def wait_for_pools(self, count: int, timeout: float = 120.0, settle: bool = True) -> None:
        """Wait until ``count`` pool fills were logged and every kernel is idle (pre-rendered)."""
        deadline = time.monotonic() + timeout
        while self.pools_filled() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"kernel pools not filled in {timeout:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        if settle:
            self.wait_until_kernels_idle(timeout=max(5.0, deadline - time.monotonic()))

    def kernel_processes(self):
        if self.proc is None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for p in children:
            try:
                if "ipykernel_launcher" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.Error:
                pass
        return out

    def wait_until_kernels_idle(self, timeout: float = 60.0, threshold: float = 3.0) -> None:
        """Wait until every kernel uses under ``threshold`` % CPU (done pre-rendering)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            procs = self.kernel_processes()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.cpu_percent(None)
            time.sleep(0.5)
            busy = 0
            for p in procs:
                with contextlib.suppress(Exception):
                    busy += p.cpu_percent(None) > threshold
            if procs and not busy:
                return
        raise TimeoutError("dashboard kernels still busy")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_file.close()
        self.proc = None

    def __enter__(self) -> DashboardServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def chromium(headless: bool = True) -> Iterator[object]:
    """Playwright's Chromium API driving Debian's /usr/bin/chromium."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install -y chromium (see .ci/run)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=headless)
        try:
            yield browser
        finally:
            browser.close()


def stub_external_assets(context) -> None:
    """Answer requests for third-party CDN assets with an empty stylesheet (no internet here)."""

    def handle(route):
        route.fulfill(status=200, content_type="text/css", body="")

    for host in EXTERNAL_ASSET_HOSTS:
        context.route(f"https://{host}/**", handle)
