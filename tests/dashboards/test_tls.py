"""With FINLIB_TLS_CERT / FINLIB_TLS_KEY the dashboard server speaks HTTPS only: HSTS, a
Secure session cookie, and a plain-HTTP request gets no page."""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.dashboards.conftest import FIXTURE_NOTEBOOKS
from tests.dashboards.logins import password

pytestmark = [pytest.mark.browser]


def test_tls_only_with_hsts_and_a_secure_cookie(fixture_db_url, tmp_path):
    from finlib.dashboards.harness import DashboardServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    env = {"FINLIB_TLS_CERT": str(cert), "FINLIB_TLS_KEY": str(key)}
    with DashboardServer(FIXTURE_NOTEBOOKS, fixture_db_url, pool_size=0, env=env,
                         log_path=tmp_path / "voila.log") as srv:
        assert srv.url.startswith("https://")
        with urllib.request.urlopen(srv.url + "login", context=srv.ssl_context(), timeout=30) as r:
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            assert "Server" not in r.headers
        # plain HTTP on the same port: no page
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            conn.request("GET", "/login")
            answer = conn.getresponse()
            assert answer.status >= 400 or b"Log in" not in answer.read()
        except (http.client.HTTPException, OSError):
            pass  # the TLS server drops a plain-HTTP client: also no page
        finally:
            conn.close()

        set_cookies: list[str] = []

        class Capture(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, headers, newurl):
                set_cookies.extend(v for k, v in headers.items() if k == "Set-Cookie")

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                             urllib.request.HTTPSHandler(context=srv.ssl_context()), Capture)
        form = opener.open(srv.url + "login", timeout=30).read().decode()
        xsrf = re.search(r"name='_xsrf' value='([^']+)'", form).group(1)
        data = urllib.parse.urlencode({"_xsrf": xsrf, "username": "exec", "password": password("exec")}).encode()
        try:
            opener.open(srv.url + "login", data=data, timeout=60)
        except urllib.error.HTTPError:
            pass
        session = [c for c in set_cookies if c.startswith("finlib_session=")]
        assert session and "Secure" in session[0] and "HttpOnly" in session[0]
