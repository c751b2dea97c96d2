"""Jobs: specs from ``parameters/jobs/``, the papermill runner, the schedule, the archive.

Modules (one concern each; importing this package imports none of them):

``spec``           the YAML job schema (pydantic), validation against notebooks, parameters
``kernel``         kernel choice, and an ipc-transport kernel manager (no ZMQ port race)
``papermill_run``  one run in a worker: papermill, retries, failure marking, HTML, manifest
``pool``           where runs execute: ``local`` (in-process or spawned pool), ``dask``
``batch``          a batch of runs: planning, locks, progress display, summary
``schedule``       cron slots against the archive: what is due (``now`` injectable)
``archive``        layout, run ids, atomic publish, the catalogue
``index``          ``reports/index.html`` and ``reports/runs.json``
``report``         nbconvert HTML with ``templates/finlib_report``
``cli``            ``finlib run | schedule | reports | jobs``
"""
