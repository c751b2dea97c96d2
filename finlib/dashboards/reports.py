"""``/reports/``: the report archive behind the dashboard server's login.

The index is built per request from the manifests the user may open
(``policy.can_open_report``), so it never lists another department's report; a report's
files are served only after ``enforce(can_open_report(user, manifest))`` (logged either way).
The shared ``_static/`` folder (plotly.js, the stylesheet) holds no figure and is served to
any logged-in user. ``runs.json`` is rebuilt per user the same way.
"""

from __future__ import annotations

import json
import mimetypes
import re

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from finlib import config
from finlib.access.auth import enforce
from finlib.access.policy import can_open_report
from finlib.dashboards.auth import client_address, refuse, run_blocking, warehouse
from finlib.errors import AccessDenied
from finlib.jobs import archive
from finlib.jobs.index import render_index

SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


def visible_runs(user, reports) -> list[dict]:
    """Catalogue rows of the runs ``user`` may open."""
    rows = []
    for _job, _period, _run_id, path in archive.iter_run_dirs(reports):
        try:
            manifest = archive.read_manifest(path)
        except (OSError, ValueError):
            continue
        if can_open_report(user, manifest):
            rows.append(archive.summarise(manifest))
    return rows


class ReportsHandler(JupyterHandler):
    """GET /reports/<path>: the per-user index, a report's files, or the shared static files."""

    @web.authenticated
    async def get(self, path: str):
        user = self._finlib_user
        reports = config.reports_dir().resolve()
        parts = [p for p in path.split("/") if p]
        if parts in ([], ["index.html"]):
            rows = await run_blocking(visible_runs, user, reports)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(render_index(rows))
            return
        if parts == ["runs.json"]:
            rows = await run_blocking(visible_runs, user, reports)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(rows, default=str))
            return
        if not all(SEGMENT.match(p) for p in parts) and not (parts and parts[0] == archive.STATIC):
            await refuse(self, user, 404, "no such report", f"/reports/{path}")
        if parts[0] == archive.STATIC and len(parts) == 2 and SEGMENT.match(parts[1]):
            file = reports / archive.STATIC / parts[1]
        elif len(parts) == 4:
            run = reports / parts[0] / parts[1] / parts[2]
            file = run / parts[3]
            if run.is_symlink() or not (run / archive.MANIFEST).is_file():
                await refuse(self, user, 404, "no such report", f"/reports/{path}")
            manifest = archive.read_manifest(run)
            target = "/".join(parts[:3])
            try:
                await run_blocking(enforce, warehouse(), user, can_open_report(user, manifest), action="open-report",
                           target=target, address=client_address(self))
            except AccessDenied:
                raise web.HTTPError(403, reason="Forbidden") from None
        else:
            await refuse(self, user, 404, "no such report", f"/reports/{path}")
        if file.is_symlink() or not file.is_file() or reports not in file.resolve().parents:
            await refuse(self, user, 404, "no such report", f"/reports/{path}")
        self.set_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self.finish(file.read_bytes())
