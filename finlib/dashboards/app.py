"""A thin :class:`voila.app.Voila` subclass: the one place finlib changes Voilà's behaviour.

Standalone Voilà 0.5 listens on plain HTTP only (``Voila._url`` carries a "TODO: https /
certfile"). :class:`FinlibVoila` adds ``certfile`` / ``keyfile`` and hands an
:class:`ssl.SSLContext` to tornado's ``HTTPServer``. Everything else is Voilà as configured by
``voila.json``.
"""

from __future__ import annotations

import functools
import json
import os
import ssl

from traitlets import Bool, Unicode
from voila import handler as voila_handler
from voila.app import Voila
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler

from finlib.dashboards import auth
from finlib.dashboards.reports import ReportsHandler
from finlib.integrations import stripe_webhook


class FinlibVoila(Voila):
    name = "voila"  # so load_config_file("voila") still finds voila.json

    certfile = Unicode("", config=True, help="PEM certificate chain: serve HTTPS instead of HTTP.")
    keyfile = Unicode("", config=True, help="PEM private key for certfile (if not inside it).")

    no_auth = Bool(False, config=True, help="Development only: no login (every visitor is an admin).")

    def init_settings(self):
        # before any kernel starts: kernels inherit this environment, the webhook secret stays here
        self._stripe_secret = os.environ.pop(stripe_webhook.ENV_SECRET, None)
        self.identity_provider_class = auth.FinlibIdentityProvider
        auth.configure(self.root_dir, tls=bool(self.certfile), no_auth=self.no_auth)
        settings = super().init_settings()
        settings["xsrf_cookie_kwargs"] = {"httponly": True, "samesite": "Strict", "secure": bool(self.certfile)}
        _track_kernel_owners(self.kernel_manager)
        return settings

    def init_handlers(self):
        """Voilà's handlers, ``/`` replaced by the per-user landing page, every one guarded."""
        out = [(r"/", auth.LandingHandler)]
        for spec in super().init_handlers():
            pattern, cls, *rest = spec
            if pattern in ("/", "/login", "/logout"):
                continue
            if cls is VoilaShutdownKernelHandler:
                cls = ShutdownOnUnloadHandler
            out.append((pattern, cls, *rest))
        out += [("/login", auth.LoginHandler), ("/logout", auth.LogoutHandler),
                (r"/reports", auth.RedirectToSlash), (r"/reports/(.*)", ReportsHandler)]
        # no login: the Stripe signature is its credential. The secret is taken out of the
        # environment here, so kernels (which inherit it) never see it.
        out.append((stripe_webhook.ENDPOINT, WebhookHandler, {"secret": self._stripe_secret}))
        out.append((r"/.*", auth.NotServedHandler))  # last: anything else is refused and logged
        return [(pattern, auth.guard(cls), *rest) for pattern, cls, *rest in out]

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


def _track_kernel_owners(kernel_manager) -> None:
    """Remember which user each kernel was handed to (its grant names the user)."""
    auth.State.kernel_manager = kernel_manager
    info_handler = voila_handler.RequestInfoSocketHandler
    original_send = info_handler.send_updates.__func__

    def send_updates(cls, msg):
        auth.State.own(msg["kernel_id"], msg["payload"].get("HTTP_X_FINLIB_GRANT"))
        return original_send(cls, msg)

    if not getattr(info_handler, "_finlib_tracked", False):
        info_handler.send_updates = classmethod(send_updates)
        info_handler._finlib_tracked = True

    original_start = kernel_manager.start_kernel

    async def start_kernel(*args, **kwargs):
        kernel_id = await original_start(*args, **kwargs)
        auth.State.own(kernel_id, (kwargs.get("env") or {}).get("HTTP_X_FINLIB_GRANT"))
        return kernel_id

    kernel_manager.start_kernel = start_kernel


class WebhookHandler(stripe_webhook.StripeWebhookHandler):
    """The Stripe handler with its warehouse writes on the server's warehouse thread."""

    async def post(self) -> None:
        out = await auth.run_blocking(
            stripe_webhook.handle_event, self.request.body, self.request.headers.get("Stripe-Signature"),
            self.secret or os.environ.get(stripe_webhook.ENV_SECRET), self.wh,
            source=self.request.remote_ip or "unknown")
        self.set_status(out.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": out.status, "message": out.message}))


class ShutdownOnUnloadHandler(VoilaShutdownKernelHandler):
    """``POST /voila/api/shutdown/<kernel>``, sent by the page as it unloads (a beacon cannot
    carry the XSRF token). The gate allows it only for the kernel's owner, and the session
    cookie is SameSite=Lax, so another site cannot make a browser send it with the cookie."""

    def check_xsrf_cookie(self) -> None:
        return None
