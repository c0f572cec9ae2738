"""Running the cluster controller: finding it, and running its passes one at a time.

What belongs here: :func:`load_reconcile` (the controller module is imported
lazily and may be absent) and :class:`Reconciler` (serialised passes, no
re-entry, no lost trigger).  Split out of :mod:`simulator.server` so the
composition root stays a readable map of wiring; this is the one piece of
it with its own concurrency rules, and it is tested on its own.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

CONTROLLER_MODULE = "simulator.controllers.cluster"


Reconcile = Callable[..., None]


def load_reconcile() -> Reconcile | None:
    """The cluster controller's ``reconcile``, or None while that module does not exist."""
    try:
        module = importlib.import_module(CONTROLLER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != CONTROLLER_MODULE:
            raise
        return None
    function = getattr(module, "reconcile", None)
    return function if callable(function) else None


class Reconciler:
    """Runs reconcile passes one at a time, never re-entrantly, never losing a trigger.

    :meth:`run_now` runs a pass in the caller's thread (after a Talos
    operation, so its answer already reflects the derived objects);
    :meth:`trigger` (after a Kubernetes write) wakes a background worker, so
    a client's write does not wait for a pass.  Writes made by a pass itself
    trigger nothing (a per-thread flag): that is what stops the loop of
    reconcile -> write -> after-write hook -> reconcile.  Triggers arriving
    during a pass set the wake-up flag again and cause one more pass.
    With *interval* (seconds), the worker also runs a pass when that long
    passed without a trigger: for state that changes by the clock alone
    (slow-starting pods), which no write announces.
    """

    def __init__(self, run: Callable[[], None], *, interval: float | None = None) -> None:
        self._run = run
        self._interval = interval
        self._lock = threading.Lock()
        self._local = threading.local()
        self._wake = threading.Event()
        self._stopping = False
        self.failures = 0
        self._worker = threading.Thread(target=self._loop, name="reconcile", daemon=True)
        self._worker.start()

    def _pass(self) -> None:
        with self._lock:
            self._local.active = True
            try:
                self._run()
            except Exception:  # a controller bug must not fail the user's request
                self.failures += 1
                log.exception("cluster reconcile failed")
            finally:
                self._local.active = False

    def run_now(self) -> None:
        if not getattr(self._local, "active", False):
            self._pass()

    def trigger(self) -> None:
        if not getattr(self._local, "active", False):
            self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            if self._stopping:
                return
            self._wake.clear()
            self._pass()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout=10)


__all__ = ["CONTROLLER_MODULE", "Reconcile", "Reconciler", "load_reconcile"]
