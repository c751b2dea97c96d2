"""No secret is ever written: sentinel values for every key, password and token are set, a
real job, an alert check with every channel, an ingest and Stripe webhook calls are run
against an encrypted warehouse, and then every file written (the data and report folders,
the warehouse's decrypted tables, decrypted archived notebooks, the logs) is searched.
Also: archived notebooks are encrypted, reports readable, and written files private."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import stat

import nbformat
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from finlib import crypto
from finlib.integrations import stripe_webhook as sw
from finlib.warehouse.db import get_warehouse
from tests.alerts.test_channels import Hook, Inbox, free_port
from tests.jobs.conftest import FIXTURES, Project

from .certs import make_pki

ROOT_PARAMS = FIXTURES.parent.parent.parent.parent / "parameters"

SENTINELS = {
    "FINLIB_DB_KEY": "SENTINEL-db-key-7f3a9c",
    "FINLIB_ARCHIVE_KEY": crypto.new_key(),
    "TEST_SMTP_PASSWORD": "SENTINEL-smtp-password-51c2",
    "TEST_HOOK_URL_TOKEN": "SENTINEL-hook-token-a81d",
    "TEST_HOOK_SECRET": "whsec_U0VOVElORUwtaG9vay1zZWNyZXQtMDEyMzQ1Njc=",
    "FINLIB_STRIPE_WEBHOOK_SECRET": "whsec_SENTINEL-stripe-secret-4e0b",
    "FINLIB_SESSION_KEY": "SENTINEL-session-key-99aa-0123456789abcdef",
}


def _reader_notebook(path):
    nb = nbformat.read(str(FIXTURES / "quick.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from finlib.warehouse.db import get_warehouse\n"
        "with get_warehouse().connect(read_only=True) as c:\n"
        "    print(c.query('SELECT name FROM customers ORDER BY name LIMIT 3'))\n"
        "import os\nprint(sorted(k for k in os.environ if k.startswith('FINLIB')))"))
    nbformat.write(nb, str(path))


def _everything_written(root):
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def test_no_secret_reaches_anything_written(tmp_path):
    pki = make_pki(tmp_path / "pki")
    p = Project(tmp_path / "proj")
    env = p.env
    env.update({k: v for k, v in SENTINELS.items() if k != "TEST_HOOK_URL_TOKEN"})
    env["TEST_SMTP_USER"] = "finlib"
    port_smtp, port_hook = free_port(), free_port()
    env["TEST_HOOK_URL"] = f"http://127.0.0.1:{port_hook}/services/{SENTINELS['TEST_HOOK_URL_TOKEN']}"
    env["SSL_CERT_FILE"] = str(pki.ca)
    _reader_notebook(p.root / "notebooks" / "reader.ipynb")
    p.job("reader", """\
        notebook: notebooks/reader.ipynb
        title: Reader
        parameters: {period: last_closed_month}
        retries: 0
    """)
    cfg = yaml.safe_load((ROOT_PARAMS / "alerts.yaml").read_text())
    cfg["channels"] = {
        "log": {"type": "jsonl", "path": "data/alerts.jsonl"},
        "email": {"type": "smtp", "host": "127.0.0.1", "port": port_smtp, "from": "f@example.com",
                  "to": ["cfo@example.com"], "username_env": "TEST_SMTP_USER",
                  "password_env": "TEST_SMTP_PASSWORD", "tls": "starttls", "timeout": 5},
        "hook": {"type": "webhook", "url_env": "TEST_HOOK_URL", "secret_env": "TEST_HOOK_SECRET", "timeout": 5},
    }
    (p.root / "parameters" / "alerts.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copytree(ROOT_PARAMS / "mappings", p.root / "parameters" / "mappings")

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.cert, pki.key)
    inbox, hook = Inbox(), Hook(port_hook)
    def auth(server, session, envelope, mechanism, data):
        return AuthResult(success=data.password.decode() == SENTINELS["TEST_SMTP_PASSWORD"], handled=False)

    smtp = Controller(inbox, hostname="127.0.0.1", port=port_smtp, tls_context=ctx, require_starttls=True,
                      authenticator=auth, auth_required=True)
    smtp.start()
    outputs = []
    try:
        for args in (("demo-data", "--quiet", "--end", "2024-06"),
                     ("run", "reader", "--period", "2024-06"),
                     ("alerts", "check", "--period", "2024-06"),
                     ("ingest", "invoices", str(FIXTURES.parent.parent.parent.parent / "samples" / "exports"
                                                / "stripe_invoices.csv"), "--mapping", "stripe_invoices"),
                     ("db", "status"),
                     ("kpis", "--period", "2024-06")):
            r = p.finlib(*args)
            outputs.append((args, r))
            assert "Traceback" not in r.stderr, (args, r.stderr)
    finally:
        smtp.stop()
        hook.stop()
    assert outputs[1][1].returncode == 0, outputs[1][1].stderr
    assert inbox.messages and hook.posts, [(a, r.stdout[-800:], r.stderr[-800:]) for a, r in outputs[1:3]]

    # Stripe webhook calls: a refused one and an accepted-signature one, in process
    old = dict(os.environ)
    try:
        os.environ.update({k: env[k] for k in ("FINLIB_HOME", "FINLIB_DB_URL", "FINLIB_DB_KEY")})
        wh = get_warehouse()
        secret = SENTINELS["FINLIB_STRIPE_WEBHOOK_SECRET"]
        assert sw.handle_event(b'{"id": "evt_1"}', "t=1,v1=00", secret, wh, source="127.0.0.1").status == 401
        # every table's rows as text, decrypted by the key
        with wh.connect(read_only=True) as c:
            tables = [r[0] for r in c.query("SELECT table_name FROM information_schema.tables")]
            dump = "\n".join(str(c.query(f'SELECT * FROM "{t}"')) for t in tables)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert "customers" in tables and "api_calls" in tables and len(dump) > 10_000

    # archived notebooks are encrypted, report pages readable, everything private
    nbs = list((p.root / "reports").rglob("notebook.ipynb"))
    assert nbs, "no archived notebook"
    keys = [SENTINELS["FINLIB_ARCHIVE_KEY"]]
    plain_nbs = []
    for nb in nbs:
        assert crypto.is_encrypted(nb)
        plain = crypto.read_bytes(nb, keys).decode()
        assert json.loads(plain)["cells"]
        plain_nbs.append(plain)
    assert any("FINLIB_DB_KEY" in t for t in plain_nbs)  # the notebook saw the variable's name...
    reports = list((p.root / "reports").rglob("report.html"))
    assert reports and all(not crypto.is_encrypted(r) for r in reports)

    texts = {"decrypted warehouse tables": dump}
    texts.update({f"decrypted {i}": t for i, t in enumerate(plain_nbs)})
    for args, r in outputs:
        texts[f"stdout/stderr of {' '.join(args)}"] = r.stdout + r.stderr
    for f in _everything_written(p.root):
        if f.suffix == ".ipynb" and "notebooks" in f.parts:
            continue  # our own input
        texts[str(f)] = f.read_bytes().decode("latin-1")
        if f.is_relative_to(p.root / "reports") or f.is_relative_to(p.root / "data"):
            assert not (f.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)), f"{f} is not private"
    for d in [*(p.root / "reports").rglob("*"), *(p.root / "data").rglob("*")]:
        if d.is_dir():
            assert not (d.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)), f"{d} is not private"
    leaks = [(name, where) for name, secret in SENTINELS.items() for where, text in texts.items()
             if secret in text]
    assert leaks == []
    assert (p.root / "data" / "warehouse.duckdb").exists()
