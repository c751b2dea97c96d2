"""A stateful property test of the trail on DuckDB: append / checkpoint / tamper / truncate,
then verify must say intact exactly when nothing was tampered with, and name the first bad seq."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from finlib.audit.verify import AuditError, checkpoint, verify
from finlib.warehouse.create import init_db
from finlib.warehouse.db import Warehouse
from finlib.warehouse.load import write_batch


class TrailMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        import os

        os.environ["FINLIB_AUDIT_KEY"] = "stateful-secret"
        self.dir = Path(tempfile.mkdtemp(prefix="finlib-audit-sm-"))
        self.wh = Warehouse.from_url(f"duckdb://{self.dir / 'w.duckdb'}")
        self.anchor = self.dir / "anchor.json"
        init_db(self.wh)
        with self.wh.connect(read_only=True) as conn:  # db-init (and the first config entry)
            self.n = conn.scalar("SELECT max(seq) FROM audit_log")
        self.rows = 0
        self.first_bad: int | None = None  # first seq an edit broke
        self.truncated = False
        self.checkpoint_seq = 0
        self.cut = False

    def teardown(self):
        shutil.rmtree(getattr(self, "dir", "/nonexistent"), ignore_errors=True)

    def _verify(self):
        return verify(self.wh, self.anchor)

    @rule(k=st.integers(1, 3))
    def append(self, k):
        df = pd.DataFrame({"department_id": [f"d{self.rows + i}" for i in range(k)],
                           "name": ["Sales"] * k})
        with write_batch(self.wh, action="test-append", target="departments") as b:
            b.append("departments", df)
        self.rows += k
        with self.wh.connect(read_only=True) as conn:
            self.n = conn.scalar("SELECT max(seq) FROM audit_log")

    @rule()
    def take_checkpoint(self):
        if self.first_bad is not None or self.truncated:
            with pytest.raises(AuditError):  # a checkpoint never blesses a tampered log
                checkpoint(self.wh, self.anchor)
            return
        checkpoint(self.wh, self.anchor)
        self.checkpoint_seq = self.n

    @rule(data=st.data())
    def edit_entry(self, data):
        seq = data.draw(st.integers(1, self.n))
        with self.wh.transaction() as conn:
            conn.execute("UPDATE audit_log SET actor = actor || '!' WHERE seq = :s", {"s": seq})
        self.first_bad = seq if self.first_bad is None else min(self.first_bad, seq)

    @precondition(lambda self: self.n > 1)
    @rule(data=st.data())
    def truncate(self, data):
        k = data.draw(st.integers(1, self.n - 1))
        with self.wh.transaction() as conn:
            conn.execute("DELETE FROM audit_log WHERE seq > :s", {"s": self.n - k})
        if self.checkpoint_seq > self.n - k:
            self.truncated = True
        self.n -= k
        self.cut = True
        if self.first_bad is not None and self.first_bad > self.n:
            self.first_bad = None  # the edited entry is gone with the truncation

    @invariant()
    def verify_tells_the_truth(self):
        if not hasattr(self, "wh"):
            return
        rep = self._verify()
        chain = [p for p in rep.problems if p.kind in ("edited", "missing", "reordered")]
        if self.first_bad is not None:
            assert chain and chain[0].seq == self.first_bad, rep.problems
        elif not self.truncated:
            # entries appended after a truncation reuse seqs the checkpoint signed: caught too
            assert not chain, rep.problems
        if self.truncated:
            assert not rep.ok
        if self.first_bad is None and not self.truncated:
            assert not [p for p in rep.problems if p.kind != "table-changed"], rep.problems
            if not self.cut:
                assert rep.ok, rep.problems


TrailMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=8, deadline=None)
test_trail_state_machine = TrailMachine.TestCase
