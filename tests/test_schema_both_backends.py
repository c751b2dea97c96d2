from finlib.warehouse.create import init_db
from finlib.warehouse.db import get_warehouse
from finlib.warehouse.schema import TABLES


def test_init_creates_every_canonical_table_and_column(any_db_url):
    wh = get_warehouse()
    created = init_db(wh)
    assert set(created) == set(TABLES)
    with wh.connect(read_only=True) as conn:
        for name, table in TABLES.items():
            assert conn.columns(name) == table.column_names, name
    assert init_db(wh) == []  # idempotent


def test_money_is_exact_decimal(any_db_url):
    wh = get_warehouse()
    init_db(wh)
    with wh.transaction() as conn:
        conn.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
        conn.execute("INSERT INTO accounts VALUES ('a1', 'Rev', 'revenue', 'subscription')")
        for i in range(10):
            conn.execute(
                "INSERT INTO gl_entries (entry_id, posted_at, period, account_id, department_id,"
                " amount, currency, is_manual) VALUES (:id, TIMESTAMP '2024-01-05 00:00:00',"
                " DATE '2024-01-01', 'a1', 'd1', 0.10, 'USD', FALSE)",
                {"id": f"e{i}"},
            )
    with wh.connect(read_only=True) as conn:
        total = conn.scalar("SELECT CAST(SUM(amount) AS VARCHAR) FROM gl_entries")
    assert total == "1.00"


def test_period_must_be_first_of_month(any_db_url):
    import pytest

    from finlib.errors import WarehouseError

    wh = get_warehouse()
    init_db(wh)
    with pytest.raises(WarehouseError):
        with wh.transaction() as conn:
            conn.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
            conn.execute("INSERT INTO accounts VALUES ('a1', 'Rev', 'revenue', 'subscription')")
            conn.execute("INSERT INTO budgets VALUES (DATE '2024-01-15', 'd1', 'a1', 10)")
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM departments") == 0  # rolled back


def test_primary_keys_are_enforced_on_both_backends(any_db_url):
    import pytest

    from finlib.errors import WarehouseError

    wh = get_warehouse()
    init_db(wh)
    with wh.transaction() as conn:
        conn.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
    with pytest.raises(WarehouseError):
        with wh.transaction() as conn:
            conn.execute("INSERT INTO departments VALUES ('d2', 'Marketing')")
            conn.execute("INSERT INTO departments VALUES ('d1', 'Sales again')")
    with wh.connect(read_only=True) as conn:
        assert conn.query("SELECT department_id, name FROM departments") == [("d1", "Sales")]


def test_postgresql_declares_every_foreign_key_of_the_schema(postgres_url):
    wh = get_warehouse()
    init_db(wh)
    expected = {(name, col.name, *col.references.split("."))
                for name, table in TABLES.items() for col in table.columns if col.references}
    assert expected, "the schema declares references"
    with wh.connect(read_only=True) as conn:
        declared = set(conn.query(
            "SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu "
            "  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema "
            "JOIN information_schema.constraint_column_usage ccu "
            "  ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema "
            "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()"))
    assert {tuple(r) for r in declared} == expected


def test_an_orphan_row_on_postgresql_fails_with_a_warehouse_error_and_writes_nothing(postgres_url):
    """FKs are deferred to commit; the commit's failure is a WarehouseError, not a driver error."""
    import pytest

    from finlib.errors import WarehouseError

    wh = get_warehouse()
    init_db(wh)
    with pytest.raises(WarehouseError, match="foreign key"):
        with wh.transaction() as conn:
            conn.execute("INSERT INTO departments VALUES ('d1', 'Sales')")
            conn.execute("INSERT INTO budgets VALUES (DATE '2024-01-01', 'd1', 'no-such-account', 10)")
    with wh.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM departments") == 0
