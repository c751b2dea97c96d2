"""The canonical warehouse schema: a public contract (see docs/SCHEMA.md).

The schema is data, read by one piece of code: DDL for each backend
(:func:`create_table_sql`), ingestion validation (required columns, types, not-null,
allowed values, ranges, first-of-month periods, primary, natural and foreign keys,
row rules) and the docs all derive from :data:`TABLES`. Adding columns or tables is fine; renaming or changing the
meaning of the canonical ones is not.

Logical types
-------------
``id``        VARCHAR(64): integer or short string identifiers (loaders accept both)
``text``      VARCHAR
``date``      DATE
``period``    DATE, always the first day of a month (checked)
``timestamp`` TIMESTAMP
``money``     DECIMAL(18,2), exact; amounts in the reporting currency unless ``currency`` says
              otherwise. Positive in the account's normal direction (revenue earned, cost
              incurred); refunds, credits and reversals negative.
``rate``      DECIMAL(18,8)
``int``       BIGINT
``float``     DOUBLE
``bool``      BOOLEAN
``json``      VARCHAR holding JSON (system tables)

Keys
----
``primary_key``  columns that are never NULL; a PRIMARY KEY on both backends.
``unique``       a natural key that may hold a nullable column (``kpi_targets.dimension``,
                 ``dev_costs.milestone_id``): NULL counts as a value, so two company-wide
                 revenue targets for one month are duplicates. PostgreSQL enforces it with
                 ``UNIQUE NULLS NOT DISTINCT`` (PostgreSQL 15 or later); on DuckDB the loader
                 refuses duplicates in a file and against the warehouse.

Row rules
---------
``checks``       :class:`RowCheck` conditions over one row (end after start, CSAT on its
                 1-5 scale, a negative invoice only as a credit note). The loader refuses a
                 row whose condition is FALSE; a NULL result passes (not-null rules catch
                 missing values).
``fx_date``      for a table with a ``currency`` column: the date column whose rate converts
                 the row (a row in another currency than the reporting one needs an
                 ``fx_rates`` rate on or before that date).

Indexes
-------
Besides the primary keys, PostgreSQL gets the secondary indexes of :data:`INDEXES`, each
with the reason it exists (docs/POSTGRESQL.md lists them). DuckDB gets none: it scans
columnar row groups with min/max zone maps and joins with hash joins, so an ART index
would only slow its bulk loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SQL_TYPES = {
    "id": "VARCHAR(64)",
    "text": "VARCHAR",
    "date": "DATE",
    "period": "DATE",
    "timestamp": "TIMESTAMP",
    "money": "DECIMAL(18,2)",
    "rate": "DECIMAL(18,8)",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "json": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    references: str | None = None  # "table.column"
    description: str = ""

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class RowCheck:
    """A rule over one row: ``condition`` (SQL over the table's column names) must hold.

    ``column`` is the column a refusal names; ``message`` says what is wrong.
    """

    name: str
    column: str
    condition: str
    message: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    description: str = ""
    system: bool = False
    unique: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    checks: tuple[RowCheck, ...] = ()
    fx_date: str | None = None

    @property
    def natural_key(self) -> tuple[str, ...]:
        """The primary key, else the first ``unique`` key, else ``()``."""
        return self.primary_key or (self.unique[0] if self.unique else ())

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Index:
    """A secondary index, created on PostgreSQL only (see the module docstring).

    ``where`` makes it partial (e.g. ``"campaign_id IS NOT NULL"`` for a column that is
    mostly NULL); ``why`` says which statements need it, and is what the docs print.
    """

    table: str
    columns: tuple[str, ...]
    why: str
    where: str | None = None

    @property
    def name(self) -> str:
        return f"ix_{self.table}_{'_'.join(self.columns)}"


def C(name, type, nullable=False, **kw) -> Column:  # noqa: N802 - table-like DSL
    return Column(name, type, nullable, **kw)


# The canonical dimension values: the one definition every layer imports.
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
DEPARTMENTS = ("Sales", "Marketing", "Product", "Customer Success", "G&A")
CS_TIERS = ("tech-touch", "pooled", "dedicated")
ACCOUNT_TYPES = ("revenue", "cogs", "opex")

TABLES: dict[str, Table] = {}


def _t(name, columns, pk=(), description="", system=False, unique=(), checks=(), fx_date=None):
    TABLES[name] = Table(name, tuple(columns), tuple(pk), description, system, tuple(unique),
                         tuple(checks), fx_date)


def _order(name: str, earlier: str, later: str, strict: bool = False, what: str = "") -> RowCheck:
    """``later`` is not before ``earlier`` (after it when ``strict``); NULL ``later`` passes."""
    op = ">" if strict else ">="
    return RowCheck(name, later, f"{later} IS NULL OR {later} {op} {earlier}",
                    f"{later} is {'on or ' if strict else ''}before {earlier}{what}")


_t("departments", [
    C("department_id", "id"),
    C("name", "text", description="Sales, Marketing, Product, Customer Success, G&A, ..."),
], pk=("department_id",), description="Cost centres.")

_t("accounts", [
    C("account_id", "id"),
    C("name", "text"),
    C("account_type", "text", allowed=ACCOUNT_TYPES),
    C("category", "text", description="salaries, software, advertising, contractors, ..."),
], pk=("account_id",), description="Chart of accounts.")

_t("gl_entries", [
    C("entry_id", "id"),
    C("posted_at", "timestamp"),
    C("period", "period"),
    C("account_id", "id", references="accounts.account_id"),
    C("department_id", "id", references="departments.department_id"),
    C("amount", "money", description="positive in the account's normal direction"),
    C("currency", "text"),
    C("feature_id", "id", nullable=True, references="features.feature_id"),
    C("campaign_id", "id", nullable=True, references="marketing_campaigns.campaign_id"),
    C("vendor", "text", nullable=True),
    C("memo", "text", nullable=True),
    C("source_system", "text", nullable=True),
    C("created_by", "text", nullable=True),
    C("approved_by", "text", nullable=True),
    C("is_manual", "bool"),
], pk=("entry_id",), description="General-ledger lines.", fx_date="period")

_t("budgets", [
    C("period", "period"),
    C("department_id", "id", references="departments.department_id"),
    C("account_id", "id", references="accounts.account_id"),
    C("amount", "money"),
], pk=("period", "department_id", "account_id"), description="Budget per department and account per month.")

_t("kpi_targets", [
    C("period", "period"),
    C("kpi", "text", description="revenue, cac, campaign_roi, nrr, ..."),
    C("dimension", "text", nullable=True, description="NULL for company-wide, else a segment, channel or product"),
    C("target", "float"),
], description="KPI targets; (period, kpi, dimension) is unique.", unique=(("period", "kpi", "dimension"),))

_t("customers", [
    C("customer_id", "id"),
    C("name", "text"),
    C("segment", "text", allowed=SEGMENTS),
    C("region", "text"),
    C("industry", "text"),
    C("signup_date", "date"),
    C("acquisition_channel", "text"),
    C("acquisition_campaign_id", "id", nullable=True, references="marketing_campaigns.campaign_id"),
    C("cs_tier", "text", allowed=CS_TIERS),
    C("csm_owner", "text", nullable=True),
], pk=("customer_id",))

_t("products", [
    C("product_id", "id"),
    C("name", "text"),
    C("launched_on", "date"),
], pk=("product_id",))

_t("subscriptions", [
    C("subscription_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("product_id", "id", references="products.product_id"),
    C("start_date", "date"),
    C("end_date", "date", nullable=True, description="exclusive: not active on end_date"),
    C("mrr", "money", min=0, description="monthly recurring revenue (annual plans: price / 12)"),
    C("currency", "text"),
    C("billing_period", "text", allowed=("monthly", "annual")),
], pk=("subscription_id",), description="A price change ends one row and starts the next.",
   checks=[_order("end_after_start", "start_date", "end_date", strict=True,
                  what=" (end_date is the first day without service)")],
   fx_date="start_date")

_t("invoices", [
    C("invoice_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("subscription_id", "id", nullable=True, references="subscriptions.subscription_id"),
    C("issued_on", "date"),
    C("service_start", "date"),
    C("service_end", "date", description="inclusive last day of service"),
    C("amount", "money", description="negative only for a credit note"),
    C("currency", "text"),
    C("status", "text", allowed=("open", "paid", "void")),
    C("kind", "text", nullable=True, allowed=("invoice", "credit_note"),
      description="credit_note for a credit note (amount <= 0); NULL or invoice otherwise"),
], pk=("invoice_id",), checks=[
    _order("service_period", "service_start", "service_end",
           what=" (service_end is the last day of service)"),
    RowCheck("negative_invoice", "amount", "amount >= 0 OR COALESCE(kind, 'invoice') = 'credit_note'",
             "an invoice amount is negative: only a credit note (kind = credit_note) may be"),
    RowCheck("positive_credit_note", "amount", "amount <= 0 OR COALESCE(kind, 'invoice') <> 'credit_note'",
             "a credit note's amount must be zero or negative"),
], fx_date="issued_on")

_t("revenue_recognized", [
    C("period", "period"),
    C("customer_id", "id", references="customers.customer_id"),
    C("subscription_id", "id", nullable=True, references="subscriptions.subscription_id"),
    C("amount", "money"),
], description="What the billing system says it recognised.",
   unique=(("period", "customer_id", "subscription_id"),))

_t("features", [
    C("feature_id", "id"),
    C("product_id", "id", references="products.product_id"),
    C("name", "text"),
    C("team", "text"),
    C("started_on", "date"),
    C("released_on", "date", nullable=True),
    C("budget", "money", min=0),
], pk=("feature_id",), checks=[_order("released_after_start", "started_on", "released_on")])

_t("milestones", [
    C("milestone_id", "id"),
    C("feature_id", "id", references="features.feature_id"),
    C("name", "text"),
    C("planned_on", "date"),
    C("completed_on", "date", nullable=True),
    C("budget", "money", min=0),
], pk=("milestone_id",))

_t("dev_costs", [
    C("feature_id", "id", references="features.feature_id"),
    C("milestone_id", "id", nullable=True, references="milestones.milestone_id"),
    C("period", "period"),
    C("cost", "money"),
    C("hours", "float", min=0),
], unique=(("feature_id", "milestone_id", "period"),),
   description="NULL milestone_id: cost not tied to a milestone (one such row per feature and period).")

_t("feature_requests", [
    C("request_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("feature_id", "id", nullable=True, references="features.feature_id"),
    C("requested_on", "date"),
], pk=("request_id",))

_t("feature_usage", [
    C("period", "period"),
    C("customer_id", "id", references="customers.customer_id"),
    C("feature_id", "id", references="features.feature_id"),
    C("active_users", "int", min=0),
    C("events", "int", min=0),
], unique=(("period", "customer_id", "feature_id"),))

_t("health_scores", [
    C("customer_id", "id", references="customers.customer_id"),
    C("scored_on", "date"),
    C("score", "float", min=0, max=100),
    C("usage_score", "float", min=0, max=100),
    C("support_score", "float", min=0, max=100),
    C("sentiment_score", "float", min=0, max=100),
    C("payment_score", "float", min=0, max=100),
], unique=(("customer_id", "scored_on"),))

_t("surveys", [
    C("response_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("responded_on", "date"),
    C("kind", "text", allowed=("csat", "nps")),
    C("score", "int", min=0, max=10, description="csat 1-5, nps 0-10"),
], pk=("response_id",), checks=[
    RowCheck("score_scale", "score",
             "(kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'nps' AND score BETWEEN 0 AND 10)",
             "score is off its scale: CSAT is 1-5, NPS 0-10"),
])

_t("retention_campaigns", [
    C("campaign_id", "id"),
    C("name", "text"),
    C("started_on", "date"),
    C("ended_on", "date", nullable=True),
    C("cost", "money", min=0),
    C("target_segment", "text", nullable=True),
], pk=("campaign_id",), checks=[_order("ended_after_start", "started_on", "ended_on")])

_t("retention_campaign_members", [
    C("campaign_id", "id", references="retention_campaigns.campaign_id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("arm", "text", allowed=("treatment", "control")),
    C("assigned_on", "date"),
], pk=("campaign_id", "customer_id"))

_t("marketing_campaigns", [
    C("campaign_id", "id"),
    C("name", "text"),
    C("channel", "text"),
    C("started_on", "date"),
    C("ended_on", "date", nullable=True),
    C("spend", "money", min=0),
    C("product_id", "id", nullable=True, references="products.product_id",
      description="set for a product launch campaign"),
], pk=("campaign_id",), checks=[_order("ended_after_start", "started_on", "ended_on")])

_t("opportunities", [
    C("opportunity_id", "id"),
    C("customer_id", "id", nullable=True, references="customers.customer_id"),
    C("owner", "text"),
    C("kind", "text", allowed=("new", "expansion", "renewal")),
    C("created_on", "date"),
    C("closed_on", "date", nullable=True),
    C("stage", "text", allowed=("open", "won", "lost")),
    C("arr", "money"),
], pk=("opportunity_id",), checks=[_order("closed_after_created", "created_on", "closed_on")])

_t("fx_rates", [
    C("rate_date", "date"),
    C("currency", "text"),
    C("rate_to_reporting", "rate", min=0),
], pk=("rate_date", "currency"))

# ---- system tables (the workbench writes them) ---------------------------------------

_t("ingest_batches", [
    C("batch_id", "id"),
    C("table_name", "text"),
    C("file_name", "text"),
    C("sha256", "text"),
    C("rows", "int"),
    C("started_at", "timestamp"),
    C("finished_at", "timestamp", nullable=True),
    C("user_name", "text"),
    C("outcome", "text", allowed=("accepted", "rejected", "replaced")),
    C("mode", "text", nullable=True, description="append | replace"),
    C("errors", "int", nullable=True),
    C("message", "text", nullable=True),
], pk=("batch_id",), system=True, description="Every ingest batch, accepted or rejected.")

_t("audit_log", [
    C("seq", "int", description="1, 2, 3 ... without gaps"),
    C("ts", "timestamp", description="UTC"),
    C("actor", "text"),
    C("action", "text", description="ingest, demo-data, db-init, run, alert, retention, config, ..."),
    C("target", "text", description="what was changed (a table, a run, ...)"),
    C("details", "json", nullable=True, description="tables and row counts, file and sha256, reason, ..."),
    C("digests", "json", nullable=True,
      description="per table touched: digests of rows written and deleted, fingerprint after"),
    C("prev_hash", "text"),
    C("entry_hash", "text", description="sha256(prev_hash, canonical JSON of this entry)"),
], pk=("seq",), system=True, description="Append-only, hash-chained audit trail.")

_t("alerts", [
    C("alert_id", "id", description="stable: hash of rule + entity + period"),
    C("rule", "text"),
    C("period", "period"),
    C("entity", "json"),
    C("severity", "text", allowed=("info", "warning", "critical")),
    C("value", "float", nullable=True),
    C("threshold", "float", nullable=True),
    C("details", "json", nullable=True),
    C("message", "text", nullable=True),
    C("report_link", "text", nullable=True),
    C("state", "text", allowed=("open", "acknowledged", "resolved")),
    C("first_seen", "timestamp"),
    C("last_seen", "timestamp"),
    C("acknowledged_by", "text", nullable=True),
    C("acknowledged_at", "timestamp", nullable=True),
], pk=("alert_id",), system=True)

_t("alert_deliveries", [
    C("alert_id", "id"),
    C("channel", "text"),
    C("delivered_at", "timestamp", nullable=True),
    C("attempts", "int"),
    C("last_error", "text", nullable=True),
], pk=("alert_id", "channel"), system=True, description="One row per alert and channel: delivered once.")

_t("runs", [
    C("run_id", "id"),
    C("job", "text"),
    C("period", "period", nullable=True),
    C("status", "text"),
    C("started_at", "timestamp"),
    C("finished_at", "timestamp", nullable=True),
    C("report_path", "text", nullable=True),
    C("fingerprint", "text", nullable=True),
    C("details", "json", nullable=True),
], pk=("run_id",), system=True)

_t("warehouse_meta", [
    C("key", "text"),
    C("value", "json"),
    C("updated_at", "timestamp"),
], pk=("key",), system=True, description="Small facts about the warehouse (e.g. the demo truth).")

# financial controls and closed periods (finlib.governance)
_t("control_results", [
    C("result_id", "id"),
    C("run_id", "id", description="one `finlib controls run`"),
    C("control", "text"),
    C("period", "period"),
    C("status", "text", allowed=("pass", "fail")),
    C("entity", "text", nullable=True, description="e.g. 'subscription S1', 'company'"),
    C("value", "float", nullable=True),
    C("expected", "float", nullable=True),
    C("message", "text"),
    C("frameworks", "json", description="JSON list of framework references"),
    C("evidence", "json", nullable=True, description="JSON list of the rows behind the finding"),
    C("evaluated_at", "timestamp"),
    C("actor", "text"),
], pk=("result_id",), system=True, description="One row per control finding and run.")

_t("period_closes", [
    C("event_id", "id"),
    C("period", "period"),
    C("action", "text", allowed=("close", "reopen")),
    C("actor", "text"),
    C("recorded_at", "timestamp"),
    C("reason", "text", nullable=True),
], pk=("event_id",), system=True, description="Every close and reopen of a period: who, when, why.")

_t("period_fingerprints", [
    C("period", "period"),
    C("table_name", "text"),
    C("rows", "int"),
    C("fingerprint", "text"),
    C("recorded_at", "timestamp"),
], pk=("period", "table_name"), system=True,
   description="Content of each table's rows of a period, as last seen by a close or a recorded change.")

_t("period_changes", [
    C("change_id", "id"),
    C("period", "period"),
    C("table_name", "text"),
    C("batch_id", "id"),
    C("action", "text"),
    C("target", "text"),
    C("actor", "text"),
    C("changed_at", "timestamp"),
    C("rows_before", "int"),
    C("rows_after", "int"),
    C("details", "json", nullable=True),
], pk=("change_id",), system=True, description="Every change to a period's data after its first close.")

# ---- access control: users, their departments, API tokens, login attempts -----------------

#: the roles of access control (what each may open: finlib.access.policy, docs/ACCESS.md)
ROLES = ("admin", "executive", "controller", "analyst", "department_head", "auditor")

_t("users", [
    C("user_name", "id"),
    C("role", "text", allowed=ROLES),
    C("password_hash", "text", description="argon2id, encoded (never printed)"),
    C("disabled", "bool"),
    C("session_version", "int", description="bumped by passwd, disable and logout: older sessions end"),
    C("locked_until", "timestamp", nullable=True),
    C("created_at", "timestamp"),
    C("updated_at", "timestamp"),
], pk=("user_name",), system=True, description="People who may log in, with their role.")

_t("user_departments", [
    C("user_name", "id", references="users.user_name"),
    C("department", "text", allowed=DEPARTMENTS),
], pk=("user_name", "department"), system=True, description="The departments of a department head.")

_t("api_tokens", [
    C("token_id", "id"),
    C("user_name", "id", references="users.user_name"),
    C("token_hash", "text", description="sha256 of the secret part (the token is shown once)"),
    C("created_at", "timestamp"),
    C("last_used_at", "timestamp", nullable=True),
    C("revoked_at", "timestamp", nullable=True),
], pk=("token_id",), system=True, description="API tokens for scripts, stored hashed.")

_t("login_attempts", [
    C("attempt_id", "id"),
    C("user_name", "text", description="as typed (truncated), known user or not"),
    C("attempted_at", "timestamp"),
    C("method", "text", allowed=("password", "token")),
    C("address", "text", nullable=True),
    C("outcome", "text", allowed=("ok", "failed", "locked", "disabled")),
], pk=("attempt_id",), system=True, description="Every login attempt: the lockout counts the failures.")

# The ``warehouse_meta`` key under which the demo generator stores its planted truth (JSON).
DEMO_TRUTH_KEY = "demo_truth"

# ---- secondary indexes (PostgreSQL) ----------------------------------------------------

_REFERENCING = ("Deleting or replacing a referenced row makes PostgreSQL check every referencing "
                "table for rows that still point at it, one lookup per deleted row (at the commit: the "
                "foreign keys are deferred); without an index each lookup is a full scan, so a "
                "`--replace all` of the parent or `demo-data --force` scans the child once per row.")

INDEXES: tuple[Index, ...] = (
    Index("gl_entries", ("period",),
          "Every ledger read is by month: the alert rules (budget variance, cost control, CAC) read "
          "one month or four, the facts one month (revenue to date, period data checks) or a range, "
          "and `MIN(period)` (first month of the books) becomes an index lookup instead of a scan."),
    Index("revenue_recognized", ("period",),
          "The revenue-target rule and the period data checks read one month; `MIN(period)` as above."),
    Index("gl_entries", ("campaign_id",),
          "Campaign spend (acquisition by channel); " + _REFERENCING + " (marketing_campaigns)",
          where="campaign_id IS NOT NULL"),
    Index("gl_entries", ("feature_id",),
          "Feature development cost; " + _REFERENCING + " (features)", where="feature_id IS NOT NULL"),
    Index("subscriptions", ("customer_id",), _REFERENCING + " (customers)"),
    Index("invoices", ("customer_id",), _REFERENCING + " (customers)"),
    Index("invoices", ("subscription_id",), _REFERENCING + " (subscriptions)",
          where="subscription_id IS NOT NULL"),
    Index("revenue_recognized", ("customer_id",), _REFERENCING + " (customers)"),
    Index("revenue_recognized", ("subscription_id",), _REFERENCING + " (subscriptions)",
          where="subscription_id IS NOT NULL"),
    Index("health_scores", ("customer_id", "scored_on"),
          "A customer's latest score on or before a date (churn panel, revenue at risk); "
          + _REFERENCING + " (customers)"),
    Index("feature_usage", ("customer_id", "period"),
          "Usage per customer and month (churn panel, adoption); " + _REFERENCING + " (customers)"),
    Index("feature_requests", ("customer_id",), _REFERENCING + " (customers)"),
    Index("surveys", ("customer_id",), _REFERENCING + " (customers)"),
    Index("retention_campaign_members", ("customer_id",),
          _REFERENCING + " (customers; the primary key starts with campaign_id and serves the campaigns)"),
    Index("opportunities", ("customer_id",), _REFERENCING + " (customers)", where="customer_id IS NOT NULL"),
    Index("customers", ("acquisition_campaign_id",), _REFERENCING + " (marketing_campaigns)",
          where="acquisition_campaign_id IS NOT NULL"),
)

CANONICAL_TABLES = [name for name, t in TABLES.items() if not t.system]
SYSTEM_TABLES = [name for name, t in TABLES.items() if t.system]


def _fk_order() -> list[str]:
    """Tables ordered so that every referenced table comes before its referrers."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, stack: tuple[str, ...] = ()) -> None:
        if name in seen:
            return
        if name in stack:  # cycles are not expected in the canonical schema
            return
        for col in TABLES[name].columns:
            if col.references:
                ref = col.references.split(".")[0]
                if ref != name:
                    visit(ref, stack + (name,))
        seen.add(name)
        order.append(name)

    for name in TABLES:
        visit(name)
    return order


LOAD_ORDER = _fk_order()


def create_table_sql(table: Table, backend: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table on ``backend`` ('duckdb' | 'postgresql').

    Foreign keys are declared on PostgreSQL (deferrable). DuckDB's foreign keys forbid
    updating or deleting a referenced row even inside a replace, so there the loader's
    validation enforces referential integrity instead.
    """
    lines = []
    for col in table.columns:
        line = f"    {col.name} {col.sql_type}"
        if not col.nullable:
            line += " NOT NULL"
        lines.append(line)
    if table.primary_key:
        lines.append(f"    PRIMARY KEY ({', '.join(table.primary_key)})")
    if backend == "postgresql":  # DuckDB: the loader enforces natural keys (NULL as a value)
        for key in table.unique:
            lines.append(f"    UNIQUE NULLS NOT DISTINCT ({', '.join(key)})")
    for col in table.columns:
        if col.type == "period":
            lines.append(f"    CHECK (EXTRACT(DAY FROM {col.name}) = 1)")
        if col.allowed:
            vals = ", ".join("'" + v.replace("'", "''") + "'" for v in col.allowed)
            lines.append(f"    CHECK ({col.name} IN ({vals}))")
    if backend == "postgresql":
        for col in table.columns:
            if col.references:
                rt, rc = col.references.split(".")
                lines.append(
                    f"    FOREIGN KEY ({col.name}) REFERENCES {rt} ({rc}) DEFERRABLE INITIALLY DEFERRED"
                )
    body = ",\n".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n{body}\n)"


def create_index_sql(index: Index) -> str:
    """``CREATE INDEX IF NOT EXISTS`` for one of :data:`INDEXES` (PostgreSQL)."""
    where = f" WHERE {index.where}" if index.where else ""
    return f"CREATE INDEX IF NOT EXISTS {index.name} ON {index.table} ({', '.join(index.columns)}){where}"


def create_all_sql(backend: str) -> list[str]:
    """Every table in load order, then (PostgreSQL) the secondary indexes of :data:`INDEXES`.

    Idempotent: running it on an existing warehouse adds only what is missing, so
    ``finlib db init`` brings an older PostgreSQL warehouse's indexes up to date."""
    stmts = [create_table_sql(TABLES[name], backend) for name in LOAD_ORDER]
    if backend == "postgresql":
        stmts += [create_index_sql(ix) for ix in INDEXES]
    return stmts
