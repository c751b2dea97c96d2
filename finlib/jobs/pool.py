"""Where runs execute: a small registry of executors.

Every executor takes the same picklable request dicts and calls
:func:`finlib.jobs.papermill_run.run_one` somewhere, yielding ``(request, manifest)`` or
``(request, exception)`` as runs finish (an exception means the worker itself broke,
not the notebook: notebook failures come back as manifests with ``status: failed``).

``local``  one process: runs in this process one after another (``--workers 1``), or in
           a ``ProcessPoolExecutor`` of *spawned* processes (``--workers N``): no forked
           ZMQ contexts or event loops, each worker imports papermill once.
``dask``   a ``dask.distributed`` cluster (``--address tcp://HOST:PORT``). Workers need
           finlib installed and the report archive on a shared file system.

Register another with :func:`register` (``@register("name")`` on a class with
``__init__(workers, address)`` and ``run(requests, progress)``).
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import lazy_loader as lazy

from finlib.errors import JobError
from finlib.jobs.papermill_run import run_one

distributed = lazy.load("distributed")  # only for --executor dask

EXECUTORS: dict[str, type] = {}

Progress = Callable[[dict[str, Any]], None]
Outcome = tuple[dict, "dict | BaseException"]


def register(name: str):
    def deco(cls):
        EXECUTORS[name] = cls
        return cls

    return deco


def get_executor(name: str, workers: int = 1, address: str | None = None):
    try:
        cls = EXECUTORS[name]
    except KeyError:
        raise JobError(f"unknown executor {name!r} (known: {', '.join(sorted(EXECUTORS))})") from None
    return cls(workers=workers, address=address)


class _CallbackQueue:
    """Quacks like a queue for :func:`run_one`, calls ``progress`` directly (in-process)."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def put_nowait(self, item: dict) -> None:
        self.progress(item)


@register("local")
class LocalExecutor:
    def __init__(self, workers: int = 1, address: str | None = None):
        if address:
            raise JobError("--address only applies to --executor dask")
        self.workers = max(1, int(workers))

    def run(self, requests: list[dict], progress: Progress) -> Iterator[Outcome]:
        if self.workers == 1 or len(requests) <= 1:
            for req in requests:
                try:
                    yield req, run_one(req, _CallbackQueue(progress))
                except Exception as exc:  # noqa: BLE001
                    yield req, exc
            return
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            q = manager.Queue()
            stop = threading.Event()

            def drain():
                while not stop.is_set():
                    try:
                        progress(q.get(timeout=0.2))
                    except queue_mod.Empty:
                        continue
                    except (EOFError, OSError):
                        return

            t = threading.Thread(target=drain, daemon=True)
            t.start()
            try:
                with ProcessPoolExecutor(max_workers=min(self.workers, len(requests)), mp_context=ctx) as pool:
                    futures = {pool.submit(run_one, req, q): req for req in requests}
                    for fut in as_completed(futures):
                        req = futures[fut]
                        try:
                            yield req, fut.result()
                        except Exception as exc:  # noqa: BLE001 - BrokenProcessPool, pickling, archive I/O
                            yield req, exc
            finally:
                stop.set()
                t.join(timeout=2)


@register("dask")
class DaskExecutor:
    def __init__(self, workers: int = 1, address: str | None = None):
        if not address:
            raise JobError("--executor dask needs --address tcp://HOST:PORT (the scheduler)")
        self.address = address

    def run(self, requests: list[dict], progress: Progress) -> Iterator[Outcome]:
        try:
            client = distributed.Client(self.address, timeout="20s")
        except OSError as exc:
            raise JobError(f"cannot reach the dask scheduler at {self.address}: {exc}") from exc
        try:
            futures, by_key = [], {}
            for req in requests:
                fut = client.submit(run_one, req, key=f"finlib-run-{req['run_id']}", pure=False, retries=0)
                futures.append(fut)
                by_key[fut.key] = req
                progress({"key": req["key"], "state": "submitted"})
            for fut in distributed.as_completed(futures):
                req = by_key[fut.key]
                try:
                    yield req, fut.result()
                except Exception as exc:  # noqa: BLE001
                    yield req, exc
        finally:
            client.close()

