"""Financial controls with evidence, and closed periods (``finlib controls``, ``finlib period``).

A tool cannot certify compliance: this package runs controls and keeps evidence
(``docs/CONTROLS.md``). Modules:

``registry``       the control registry (:func:`~finlib.governance.registry.control`), findings
``controls/``      one module per control family: revenue, costs, access, reports, periods
``config``         ``parameters/controls.yaml``, validated
``money``          the one place ledger money is expressed in the reporting currency
``runner``         ``run_controls`` (evaluate, store ``control_results``, raise ``control_failure``
                   alerts) and the read-only ``evaluate_controls``
``periods_close``  ``close_period``, ``reopen_period`` and the write hook keeping closed periods closed
``report``         the governance report's DataFrames (failures, evidence CSV, trend, matrix)

Importing the package is cheap (the write path imports ``periods_close`` on the first write).
"""
