"""A thin :class:`voila.app.Voila` subclass: the one place finlib changes Voilà's behaviour.

Standalone Voilà 0.5 listens on plain HTTP only (``Voila._url`` carries a "TODO: https /
certfile"). :class:`FinlibVoila` adds ``certfile`` / ``keyfile`` and hands an
:class:`ssl.SSLContext` to tornado's ``HTTPServer``. Everything else is Voilà as configured by
``voila.json``.
"""

from __future__ import annotations

import functools
import os
import ssl

from traitlets import Unicode
from voila.app import Voila


class FinlibVoila(Voila):
    name = "voila"  # so load_config_file("voila") still finds voila.json

    certfile = Unicode("", config=True, help="PEM certificate chain: serve HTTPS instead of HTTP.")
    keyfile = Unicode("", config=True, help="PEM private key for certfile (if not inside it).")

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.certfile:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.certfile, self.keyfile or None)
        return ctx

    def _url(self, ip):
        proto = "https" if self.certfile else "http"
        return f"{proto}://{ip}:{self.port}{self.base_url}"

    def start(self):
        # Preheated kernels are started (with a copy of this environment) before the server
        # listens; they fetch their viewer's request over a websocket back to this server,
        # so tell them where it is and whether it speaks TLS.
        if self.ip in ("", "0.0.0.0", "localhost"):
            os.environ["VOILA_APP_IP"] = "127.0.0.1"
        elif self.ip == "::":
            os.environ["VOILA_APP_IP"] = "[::1]"
        else:
            os.environ["VOILA_APP_IP"] = f"[{self.ip}]" if ":" in self.ip else self.ip
        if self.certfile:
            os.environ["VOILA_WS_PROTOCOL"] = "wss"
        super().start()

    def listen(self):
        ctx = self._ssl_context()
        if ctx is not None:
            self.app.listen = functools.partial(self.app.listen, ssl_options=ctx)
        super().listen()
