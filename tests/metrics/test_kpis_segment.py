"""``headline_kpis(wh, period, segment=...)`` on the tiny warehouse (DuckDB and PostgreSQL).

By hand (tests/metrics/conftest.py), March 2024, MRR at month ends Feb -> Mar:
    SMB (c1, c2, c5)   c1 100 -> 150 (expansion 50); c2 churned in Feb (0 -> 0); c5 never pays
    Mid-Market (c3)    166.67 -> 216.67 (expansion 50: the add-on p2)
    Enterprise (c4)    300 -> 250 (contraction 50)
Recognised revenue March: c1 150, c3 216.67, c4 250. CAC (company-wide): (Sales 1,000 +
Marketing 500) / 1 signup (c5) = 1,500.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from finlib.errors import ConfigError
from finlib.metrics import facts
from finlib.metrics.kpis import headline_kpis
from finlib.warehouse.load import write_batch
from finlib.warehouse.schema import SEGMENTS


def test_segment_figures_by_hand(tiny_wh):
    smb = headline_kpis(tiny_wh, "2024-03", segment="SMB")
    assert smb["segment"] == "SMB" and smb["cac_scope"] == "company"
    assert (smb["mrr"], smb["arr"], smb["mrr_expansion"], smb["mrr_new"], smb["mrr_churn"]) == (
        150.0, 1800.0, 50.0, 0.0, 0.0)
    assert (smb["customers"], smb["logo_churn"], smb["recognised_revenue"]) == (1, 0.0, 150.0)
    assert smb["revenue_target"] is None and smb["revenue_favourable"] is None  # no SMB target
    ent = headline_kpis(tiny_wh, "2024-03", segment="Enterprise")
    assert (ent["mrr"], ent["mrr_contraction"], ent["recognised_revenue"]) == (250.0, 50.0, 250.0)
    assert ent["gross_mrr_churn"] == pytest.approx(50 / 300)
    # CAC and its inputs stay company-wide
    company = headline_kpis(tiny_wh, "2024-03")
    assert company["segment"] is None and company["revenue_target"] == 650.0
    for k in ("cac", "new_customers", "sales_marketing_cost", "gross_margin", "cac_payback_months"):
        assert smb[k] == ent[k] == company[k], k
    assert company["cac"] is None  # March: no new paying customer (c5 signed up, never pays)


def test_a_segment_revenue_target_is_used_only_for_its_segment(tiny_wh):
    row = pd.DataFrame([{"period": pd.Timestamp("2024-03-01").date(), "kpi": "revenue",
                         "dimension": "Mid-Market", "target": 200.0}])
    with write_batch(tiny_wh, action="test", target="kpi_targets") as b:
        b.append("kpi_targets", row)
    mm = headline_kpis(tiny_wh, "2024-03", segment="Mid-Market")
    # 216.67 against 200: +16.67, +8.335 %, favourable
    assert (mm["recognised_revenue"], mm["revenue_target"], mm["revenue_variance"]) == (216.67, 200.0, 16.67)
    assert mm["revenue_variance_pct"] == pytest.approx(0.08335) and mm["revenue_favourable"] is True
    assert headline_kpis(tiny_wh, "2024-03", segment="SMB")["revenue_target"] is None
    assert headline_kpis(tiny_wh, "2024-03")["revenue_target"] == 650.0  # the company's, not 200


def test_segments_add_up_to_the_company(tiny_wh):
    for period in ("2024-02", "2024-03", "2024-04"):
        company = headline_kpis(tiny_wh, period)
        parts = [headline_kpis(tiny_wh, period, segment=s) for s in SEGMENTS]
        for k in ("mrr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churn", "mrr_reactivation",
                  "net_new_mrr", "customers", "recognised_revenue"):
            assert sum(p[k] for p in parts) == pytest.approx(company[k]), (period, k)


def test_segment_retention_cohort(tiny_wh):
    # cohort of customers paying at the end of 2024-01, seen at 2024-04 (3 months):
    # SMB c1 100 -> 150, c2 200 -> 80; Enterprise c4 300 -> 250; c3 started paying in Feb
    smb = facts.retention_cohort(tiny_wh, "2024-04", months=3, segment="SMB")
    assert smb[["customer_id", "mrr_then", "mrr_now"]].values.tolist() == [["c1", 100.0, 150.0],
                                                                            ["c2", 200.0, 80.0]]
    ent = facts.retention_cohort(tiny_wh, "2024-04", months=3, segment="Enterprise")
    assert ent["customer_id"].tolist() == ["c4"]
    assert facts.retention_cohort(tiny_wh, "2024-04", months=3, segment="Mid-Market").empty


def test_an_unknown_segment_is_a_clear_error(tiny_wh):
    with pytest.raises(ConfigError, match="Unknown segment 'smb'.*SMB, Mid-Market, Enterprise"):
        headline_kpis(tiny_wh, "2024-03", segment="smb")


def test_kpis_cli_segment(tiny_duck, capsys):
    from finlib.cli import main

    assert main(["kpis", "--period", "2024-03", "--segment", "Enterprise", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # CAC stays company-wide: undefined in March (no new paying customer)
    assert (out["segment"], out["mrr"], out["mrr_contraction"], out["cac"]) == ("Enterprise", 250.0, 50.0, None)
    assert main(["kpis", "--period", "2024-03", "--segment", "SMB"]) == 0
    assert "segment SMB (CAC company-wide)" in capsys.readouterr().out
    assert main(["kpis", "--period", "2024-03", "--segment", "Gold"]) == 2
