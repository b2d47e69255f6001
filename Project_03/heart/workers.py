"""Worker processes that leave Ctrl-C to the command and never outlive it (loky workers).

A terminal's Ctrl-C sends SIGINT to the whole foreground process group, the search's worker
processes included. A worker that is still starting (importing joblib, numpy, scikit-learn) would
print a ``KeyboardInterrupt`` traceback of its own, although the command itself stops cleanly
(:mod:`heart.signals`) and ends its workers. :func:`quiet_workers` makes every loky worker start
with SIGINT blocked: the signal mask is inherited through ``fork`` and ``exec``, so the worker never
sees Ctrl-C, and the command, which does, shuts it down. In the command itself SIGINT is blocked
only for the microseconds a worker is being started (the calling thread), and a Ctrl-C that
arrives meanwhile is delivered as soon as the block ends, never lost. The threads that loky starts
at the same moment inherit the mask too, so the workers they restart later are quiet as well.
This is how CPython's own ``multiprocessing`` starts its resource tracker.

Each worker must also end when the command is killed outright (``kill -9``, the out-of-memory
killer), where no clean-up runs: loky's idle workers (each holding a fitted model's worth of
memory) would otherwise wait up to five minutes for a next task. :func:`watch_parent`, every
worker's initializer, starts a thread that ends the worker within half a second of its parent's
death, seen as a change of ``os.getppid()``. Linux's ``prctl(PR_SET_PDEATHSIG)`` would not do: it
fires when the *thread* that started the worker ends, and loky starts workers from whichever
thread submits work (its own manager thread included), so it could kill the workers of a live
command.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from joblib import parallel_config
from joblib._parallel_backends import LokyBackend

from heart.signals import deferred_signals

SIGINT_ONLY = {signal.SIGINT}
PARENT_POLL_SECONDS = 0.5
ORPHANED_EXIT_CODE = 1


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker process once ``parent_pid`` is no longer its parent.

    A dead parent's children are adopted by init (or a subreaper), so ``os.getppid()`` changes.
    ``os._exit`` ends the process from the watching thread, whatever the main thread is fitting;
    nothing is left to clean up (the command's own clean-up died with it).
    """
    if os.getppid() != parent_pid:  # the command died before this worker got here
        os._exit(ORPHANED_EXIT_CODE)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(ORPHANED_EXIT_CODE)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in the calling thread (and the processes and threads it starts) meanwhile.

    The command's own handler may still run here (the kernel hands the signal to another of its
    threads), so :func:`heart.signals.deferred_signals` holds it back until loky has finished
    starting its workers and threads: interrupted half-way, loky's executor is left in a state
    whose clean-up prints a traceback.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGINT_ONLY)
    try:
        with deferred_signals():
            yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class QuietLokyBackend(LokyBackend):  # pylint: disable=abstract-method  # apply_async: deprecated
    """joblib's loky backend: workers start with SIGINT blocked and end with their command."""

    def __init__(self, **backend_kwargs: Any) -> None:
        super().__init__(initializer=watch_parent, initargs=(os.getpid(),), **backend_kwargs)

    def configure(self, *args: Any, **kwargs: Any) -> int:
        """Build (or resize) the reusable executor with SIGINT blocked."""
        with sigint_blocked():
            return super().configure(*args, **kwargs)

    def submit(self, func: Any, callback: Any = None) -> Any:
        """Submit a task; loky starts its workers and threads here on first use."""
        with sigint_blocked():
            return super().submit(func, callback)


@contextmanager
def quiet_workers() -> Iterator[None]:
    """Run joblib's (and so scikit-learn's) process pools on :class:`QuietLokyBackend`."""
    with parallel_config(backend=QuietLokyBackend()):
        yield
