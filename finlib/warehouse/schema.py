"""The canonical warehouse schema: a public contract (see docs/SCHEMA.md).

The schema is data, read by one piece of code: DDL for each backend
(:func:`create_table_sql`), ingestion validation (required columns, types, not-null,
allowed values, ranges, first-of-month periods, primary and foreign keys) and the docs all
derive from :data:`TABLES`. Adding columns or tables is fine; renaming or changing the
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
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    description: str = ""
    system: bool = False
    unique: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def C(name, type, nullable=False, **kw) -> Column:  # noqa: N802 - table-like DSL
    return Column(name, type, nullable, **kw)


# The canonical dimension values: the one definition every layer imports.
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
DEPARTMENTS = ("Sales", "Marketing", "Product", "Customer Success", "G&A")
CS_TIERS = ("tech-touch", "pooled", "dedicated")
ACCOUNT_TYPES = ("revenue", "cogs", "opex")

TABLES: dict[str, Table] = {}


def _t(name, columns, pk=(), description="", system=False, unique=()):
    TABLES[name] = Table(name, tuple(columns), tuple(pk), description, system, tuple(unique))


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
], pk=("entry_id",), description="General-ledger lines.")

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
], pk=("subscription_id",), description="A price change ends one row and starts the next.")

_t("invoices", [
    C("invoice_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("subscription_id", "id", nullable=True, references="subscriptions.subscription_id"),
    C("issued_on", "date"),
    C("service_start", "date"),
    C("service_end", "date", description="inclusive last day of service"),
    C("amount", "money"),
    C("currency", "text"),
    C("status", "text", allowed=("open", "paid", "void")),
], pk=("invoice_id",))

_t("revenue_recognized", [
    C("period", "period"),
    C("customer_id", "id", references="customers.customer_id"),
    C("subscription_id", "id", nullable=True, references="subscriptions.subscription_id"),
    C("amount", "money"),
], description="What the billing system says it recognised.")

_t("features", [
    C("feature_id", "id"),
    C("product_id", "id", references="products.product_id"),
    C("name", "text"),
    C("team", "text"),
    C("started_on", "date"),
    C("released_on", "date", nullable=True),
    C("budget", "money", min=0),
], pk=("feature_id",))

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
])

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
])

_t("health_scores", [
    C("customer_id", "id", references="customers.customer_id"),
    C("scored_on", "date"),
    C("score", "float", min=0, max=100),
    C("usage_score", "float", min=0, max=100),
    C("support_score", "float", min=0, max=100),
    C("sentiment_score", "float", min=0, max=100),
    C("payment_score", "float", min=0, max=100),
])

_t("surveys", [
    C("response_id", "id"),
    C("customer_id", "id", references="customers.customer_id"),
    C("responded_on", "date"),
    C("kind", "text", allowed=("csat", "nps")),
    C("score", "int", min=0, max=10, description="csat 1-5, nps 0-10"),
], pk=("response_id",))

_t("retention_campaigns", [
    C("campaign_id", "id"),
    C("name", "text"),
    C("started_on", "date"),
    C("ended_on", "date", nullable=True),
    C("cost", "money", min=0),
    C("target_segment", "text", nullable=True),
], pk=("campaign_id",))

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
], pk=("campaign_id",))

_t("opportunities", [
    C("opportunity_id", "id"),
    C("customer_id", "id", nullable=True, references="customers.customer_id"),
    C("owner", "text"),
    C("kind", "text", allowed=("new", "expansion", "renewal")),
    C("created_on", "date"),
    C("closed_on", "date", nullable=True),
    C("stage", "text", allowed=("open", "won", "lost")),
    C("arr", "money"),
], pk=("opportunity_id",))

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

# The ``warehouse_meta`` key under which the demo generator stores its planted truth (JSON).
DEMO_TRUTH_KEY = "demo_truth"

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


def create_all_sql(backend: str) -> list[str]:
    return [create_table_sql(TABLES[name], backend) for name in LOAD_ORDER]
