"""`finlib kpis`: JSON for scripts, an aligned table for people, a clear error without data."""

from __future__ import annotations

import json

from finlib.cli import main

REQUIRED = {"period", "mrr", "arr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churn",
            "mrr_reactivation", "recognised_revenue", "revenue_target", "nrr", "grr", "logo_churn", "cac"}


def test_kpis_json_prints_one_object_with_the_headline_keys(tiny_duck, capsys):
    assert main(["kpis", "--period", "2024-03", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert REQUIRED <= set(out)
    assert out["period"] == "2024-03-01"
    # March has no new paying customer (c5 signed up but never pays): CAC is undefined
    assert (out["mrr"], out["arr"], out["mrr_expansion"], out["cac"]) == (616.67, 7400.04, 100.0, None)
    assert out["currency"] == "USD"


def test_kpis_prints_an_aligned_table(tiny_duck, capsys):
    assert main(["kpis", "--period", "2024-02"]) == 0
    text = capsys.readouterr().out
    assert "Headline KPIs — 2024-02" in text
    assert "566.67" in text and "Churned MRR" in text and "200.00" in text
    assert "USD/month" in text


def test_kpis_without_data_fails_with_a_message_not_a_traceback(tiny_duck, capsys):
    assert main(["kpis", "--period", "2031-05"]) == 4
    err = capsys.readouterr().err
    assert "No data for 2031-05" in err and "Traceback" not in err


def test_kpis_rejects_a_malformed_period(tiny_duck, capsys):
    assert main(["kpis", "--period", "March"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
