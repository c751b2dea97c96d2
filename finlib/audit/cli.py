"""``finlib audit`` (verify, checkpoint, log, history, export, access, watch, api) and ``finlib retention``
(plan, apply, legal holds)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict

import click


def _wh():
    from finlib.warehouse.db import get_warehouse

    return get_warehouse()


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit trail of every change to the warehouse."""


@audit.command("verify")
@click.option("--anchor", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (default FINLIB_AUDIT_ANCHOR, else beside the warehouse).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify_cmd(anchor: str | None, as_json: bool) -> None:
    """Recompute the chain, check the checkpoint and every table's fingerprint.

    Exit 0 when intact, 4 naming the first bad seq or the table changed outside finlib."""
    from pathlib import Path

    from finlib.audit.verify import AuditError, verify

    rep = verify(_wh(), Path(anchor) if anchor else None)
    if as_json:
        click.echo(json.dumps(rep.as_dict(), default=str))
    else:
        cp = rep.checkpoint
        click.echo(f"{rep.entries} entries, head seq {rep.head_seq} {rep.head_hash[:16]}…, "
                   f"{rep.tables_checked} tables checked"
                   + (f", checkpoint seq {cp['seq']} ({cp['path']})" if cp else ", no checkpoint"))
        for p in rep.problems:
            click.secho(f"  ✗ {p.message}", fg="red")
        if rep.ok:
            click.secho("  ✓ intact", fg="green")
    if not rep.ok:
        if as_json:
            raise click.exceptions.Exit(AuditError.exit_code)
        raise AuditError(rep.first.message)


@audit.command("checkpoint")
@click.option("--anchor", type=click.Path(dir_okay=False), default=None,
              help="Where to write (default FINLIB_AUDIT_ANCHOR, else beside the warehouse).")
@click.option("--json", "as_json", is_flag=True)
def checkpoint_cmd(anchor: str | None, as_json: bool) -> None:
    """Write the newest seq and hash, signed with FINLIB_AUDIT_KEY (HMAC-SHA256)."""
    from pathlib import Path

    from finlib.audit.verify import checkpoint

    doc = checkpoint(_wh(), Path(anchor) if anchor else None)
    click.echo(json.dumps(doc) if as_json else f"checkpoint: seq {doc['seq']} {doc['entry_hash'][:16]}… "
               f"written to {doc['path']}")


@audit.command("log")
@click.option("--since", default=None, help="Only entries at or after this date/time (UTC, ISO).")
@click.option("--actor", default=None)
@click.option("--action", default=None)
@click.option("--table", default=None, help="Only entries that touched this table.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def log_cmd(since, actor, action, table, as_json) -> None:
    """List audit entries (oldest first)."""
    from finlib.audit.query import entries

    rows = entries(_wh(), since=since, actor=actor, action=action, table=table)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Audit trail", title_justify="left")
    for c in ("seq", "ts (UTC)", "actor", "action", "target", "tables", "reason"):
        t.add_column(c)
    for r in rows:
        tables = ", ".join(f"{k} +{v['written'][0]}/-{v['deleted'][0]}" for k, v in r["digests"].items())
        t.add_row(str(r["seq"]), str(r["ts"])[:19], r["actor"], r["action"], r["target"], tables,
                  str(r["details"].get("reason") or ""))
    Console().print(t)


@audit.command("history")
@click.argument("table")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
def history_cmd(table: str, key: str, as_json: bool) -> None:
    """Every version of one row (KEY: primary-key values, comma-separated)."""
    from finlib.audit.history import row_history

    versions = row_history(_wh(), table, key)
    if as_json:
        click.echo(json.dumps(versions, default=str))
        return
    if not versions:
        click.echo(f"no version of {table} {key} was ever recorded")
        return
    for v in versions:
        a, r = v["added_by"] or {}, v["removed_by"] or {}
        click.echo(f"[{v['state']}] written by seq {v['added_seq']} ({a.get('actor')}, {a.get('ts')}, "
                   f"{a.get('action')}{', reason: ' + a['reason'] if a.get('reason') else ''})"
                   + (f"; removed by seq {v['removed_seq']} ({r.get('actor')}, {r.get('ts')}, {r.get('action')}"
                      f"{', reason: ' + r['reason'] if r.get('reason') else ''})" if r else ""))
        click.echo("    " + json.dumps(v["row"], default=str))


@audit.command("export")
@click.option("--from", "date_from", required=True, help="First date (UTC, YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, help="Last date, inclusive.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
def export_cmd(date_from: str, date_to: str, out: str) -> None:
    """Entries of a date range as JSONL and CSV, with a verification summary, for auditors
    (encrypted when FINLIB_ARCHIVE_KEY is set; read them with `finlib archive decrypt`)."""
    from pathlib import Path

    from finlib.audit.query import export

    res = export(_wh(), date_from, date_to, Path(out))
    click.echo(f"{res['entries']} entries ({res['first_seq']}..{res['last_seq']}) written to {out}"
               + (f", encrypted (key id {res['key_id']})" if res["key_id"] else "")
               + f"; trail {'intact' if res['verification']['ok'] else 'NOT intact'}")


@audit.command("access")
@click.option("--since", default=None, help="Only records at or after this date/time (UTC, ISO).")
@click.option("--user", default=None)
@click.option("--kind", type=click.Choice(["access", "integration"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def access_cmd(since, user, kind, as_json) -> None:
    """Who opened what, and every ingest and delivery; then unusual access (failed-login
    bursts, bulk exports, after hours) by the rules of parameters/monitoring.yaml."""
    from finlib.audit.access import read
    from finlib.audit.monitor import access_findings, load_settings

    rows = read(_wh(), since=since, user=user, kind=kind)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r, default=str))
        return
    for r in rows:
        d = r["details"]
        extra = ", ".join(f"{k}={v}" for k, v in d.items() if k in ("rows", "bytes", "duration_s", "error"))
        click.echo(f"{r['seq']:>6} {str(r['ts'])[:19]} {r['kind']:<11} {r['user']:<12} {r['action']:<18} "
                   f"{r['target'] or '':<30} {r['address'] or '':<15} {r['outcome']:<7} {extra}")
    for u in access_findings(rows, load_settings()):
        click.secho(f"unusual: [{u['severity']}] {u['rule']}: {u['message']}", fg="yellow")


@audit.command("watch")
@click.option("--since", default=None,
              help="Evaluate from this date/time (UTC, ISO; default: lookback_hours of monitoring.yaml).")
@click.option("--no-deliver", is_flag=True, help="Store the alerts, send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def watch_cmd(since, no_deliver, as_json) -> None:
    """Raise alerts for unusual access, failed integrations and refused API calls, and
    deliver every pending alert. Exit 0, or 5 when a new critical alert was raised."""
    from finlib.audit.chain import parse_when
    from finlib.audit.monitor import NewCriticalAlerts, watch

    res = watch(_wh(), since=parse_when(since) if since else None, deliver=not no_deliver)
    if as_json:
        click.echo(json.dumps(res, default=str))
    else:
        new = set(res["new"])
        click.echo(f"monitoring since {res['since']} UTC: {len(res['alerts'])} alert(s), {len(new)} new; "
                   f"deliveries: {res['deliveries']['delivered']} sent, {res['deliveries']['failed']} failed")
        for a in res["alerts"]:
            click.secho(f"  {'NEW ' if a['id'] in new else '    '}[{a['severity']}] {a['id']} {a['rule']}: "
                        f"{a['message']}", fg="red" if a["severity"] == "critical" else "yellow")
    if res["new_critical"]:
        raise NewCriticalAlerts(f"{res['new_critical']} new critical alert(s): `finlib alerts list --state open`")


@audit.command("api")
@click.option("--since", default=None, help="Only calls at or after this date/time (UTC, ISO).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def api_cmd(since, as_json) -> None:
    """API usage per endpoint and source (calls, failures, bad signatures, 429s, latency p50
    and p95), and the integrations (ingests, deliveries) with rows, bytes and duration."""
    from finlib.audit.access import read
    from finlib.audit.chain import parse_when
    from finlib.audit.monitor import api_summary, integration_summary

    wh = _wh()
    lo = parse_when(since) if since else None
    calls = api_summary(wh, lo)
    integrations = integration_summary(read(wh, since=since, kind="integration"))
    if as_json:
        click.echo(json.dumps({"api_calls": calls, "integrations": integrations}, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    def ms(v):
        return "" if v is None else f"{v:.1f}"

    t = Table(title="API calls", title_justify="left")
    for c in ("direction", "endpoint", "source", "calls", "failures", "bad signature", "429", "p50 ms",
              "p95 ms", "last call"):
        t.add_column(c)
    for r in calls:
        t.add_row(r["direction"], r["endpoint"], r["source"], str(r["calls"]), str(r["failures"]),
                  str(r["bad_signature"]), str(r["rate_limited"]), ms(r["p50_ms"]), ms(r["p95_ms"]),
                  r["last_call"])
    i = Table(title="Integrations", title_justify="left")
    for c in ("source", "action", "count", "failed", "rows", "bytes", "p50 s", "p95 s"):
        i.add_column(c)
    for r in integrations:
        i.add_row(r["source"], r["action"], str(r["count"]), str(r["failed"]), str(r["rows"]), str(r["bytes"]),
                  "" if r["p50_s"] is None else f"{r['p50_s']:.3f}", "" if r["p95_s"] is None else f"{r['p95_s']:.3f}")
    Console().print(t, i)


# ---------------------------------------------------------------------------- retention
def _today(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: write the date as YYYY-MM-DD") from None


@click.group("retention")
def retention() -> None:
    """Keep records for their retention period; archive and delete what is past it."""


_today_opt = click.option("--today", default=None, metavar="YYYY-MM-DD",
                          help="Evaluate the policy as on this day (default: today, UTC).")


@retention.command("plan")
@_today_opt
@click.option("--json", "as_json", is_flag=True)
def plan_cmd(today, as_json) -> None:
    """List what is past its retention period, and what holds keep."""
    from finlib.audit.retention import plan

    items = plan(_wh(), _today(today))
    if as_json:
        click.echo(json.dumps([asdict(i) for i in items]))
        return
    for i in items:
        click.echo(f"{i.table:<20} keep {i.years} y  before {i.cutoff or '-':<10}  past {i.past:>9,}  "
                   f"held {i.held:>7,}  {i.note}")


@retention.command("apply")
@_today_opt
@click.option("--json", "as_json", is_flag=True)
def apply_cmd(today, as_json) -> None:
    """Archive (Parquet or tar, sha256 manifest, verified), then delete, what is past retention."""
    from finlib.audit.retention import REPORTS, apply

    items = apply(_wh(), _today(today))
    if as_json:
        click.echo(json.dumps([asdict(i) for i in items]))
        return
    for i in items:
        if i.archive:
            what = "report run folders" if i.table == REPORTS else "rows"
            click.echo(f"{i.table}: {i.past:,} {what} archived to {i.archive['path']} and deleted ({i.held:,} held)")


@retention.command("verify")
@click.argument("archive", type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, type=click.Path(exists=False, file_okay=False),
              help="Also copy the verified plaintext files into this new folder (mode 0700).")
@click.option("--json", "as_json", is_flag=True)
def verify_archive_cmd(archive: str, out: str | None, as_json: bool) -> None:
    """Check a retention archive against its manifest (decrypting it with FINLIB_ARCHIVE_KEY
    when it is encrypted) and read it back; exit 0 when every file matches."""
    import shutil
    from pathlib import Path

    from finlib.audit import sealed
    from finlib.audit.retention import open_archive
    from finlib.errors import FinlibError

    if out is not None and Path(out).exists():
        raise FinlibError(f"{out} already exists; give a new folder for --out")
    with open_archive(Path(archive)) as (manifest, plain, counts):
        if out is not None:
            for name in manifest["files"]:
                dst = Path(out) / name
                sealed.private_dir(dst.parent)
                shutil.copyfile(plain / name, dst)
                dst.chmod(0o600)
            sealed.write_sealed(Path(out) / "manifest.json", sealed.read_bytes(Path(archive) / "manifest.json"))
    if as_json:
        click.echo(json.dumps({"archive": archive, "ok": True, "files": counts}))
        return
    unit = "files" if manifest.get("kind") == "reports" else "rows"
    for name, n in counts.items():
        click.echo(f"  ✓ {name}: {n:,} {unit}, sha256 as in the manifest")
    click.echo(f"{archive}: intact ({len(counts)} file(s))" + (f"; plaintext copied to {out}" if out else ""))


@retention.group("hold")
def hold() -> None:
    """Legal holds: rows (or report runs, --table reports) that apply never deletes."""


def _scope(f):
    f = click.option("--reason", required=True)(f)
    f = click.option("--key", default=None, help="Primary-key value(s), comma-separated; for reports, a run id.")(f)
    f = click.option("--period", default=None, metavar="YYYY-MM", help="Every row (or report run) of this month.")(f)
    return click.option("--table", required=True, help="A warehouse table, or reports for the report archive.")(f)


@hold.command("add")
@_scope
def hold_add(table, period, key, reason) -> None:
    """Hold a month (--period) or a key (--key) of TABLE; reports: a month or a run id."""
    from finlib.audit.retention import add_hold

    click.echo(f"hold {add_hold(_wh(), table, reason, period=period, key=key)} placed on {table} "
               f"{period or key}")


@hold.command("release")
@_scope
def hold_release(table, period, key, reason) -> None:
    """Release the active holds on TABLE for a month or a key."""
    from finlib.audit.retention import release_hold

    n = release_hold(_wh(), table, reason, period=period, key=key)
    click.echo(f"{n} hold(s) on {table} {period or key} released")
