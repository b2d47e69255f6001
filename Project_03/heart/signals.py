"""Ctrl-C (SIGINT) and SIGTERM end a run the same clean way, wherever it is, but never mid-swap.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM kill the process on the spot,
skipping every ``finally`` (staging folders and temporary files stay behind). Inside
:func:`handle_signals` both raise :class:`Interrupted`, which unwinds through every ``finally`` on
the way; ``cli.run`` then prints one line and exits 130 (Ctrl-C) or 143 (SIGTERM). Once a signal
has arrived, repeats are ignored: a second Ctrl-C must not cut the clean-up short.

Inside :func:`deferred_signals` (moving finished artifacts into place) a signal is held back and
raised as soon as the block ends, so a folder is never left half old, half new.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

HANDLED = (signal.SIGINT, signal.SIGTERM)
EXIT_SIGINT = 128 + signal.SIGINT  # 130, what a shell reports for a Ctrl-C'd program


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``exit_code`` is what a shell reports for it (128 + number)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


@dataclass
class _Deferral:
    """Signals that arrived inside a deferred block (None when no block is open)."""

    pending: list[int] | None = None


_DEFERRAL = _Deferral()


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    for handled in HANDLED:  # a second Ctrl-C must not cut the clean-up short
        signal.signal(handled, signal.SIG_IGN)
    if _DEFERRAL.pending is not None:
        _DEFERRAL.pending.append(signum)
        return
    raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` while the block runs.

    SIGINT is set explicitly because a program started in the background by a shell script
    inherits "ignore SIGINT". The previous handlers come back afterwards (tests call ``main()``
    in-process), unless a signal arrived: then the process is on its way out and keeps ignoring
    repeats. Outside the main thread, where Python cannot set handlers, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in HANDLED}
    try:
        yield
    finally:
        if all(signal.getsignal(signum) is _raise_interrupted for signum in HANDLED):
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM until the block has finished, then raise the first one."""
    if _DEFERRAL.pending is not None:  # already inside a deferred block
        yield
        return
    _DEFERRAL.pending = []
    try:
        yield
    finally:
        pending, _DEFERRAL.pending = _DEFERRAL.pending, None
    if pending:
        raise Interrupted(pending[0])


def exit_process(code: int) -> NoReturn:
    """Exit with ``code``, ignoring further signals, without the garbage collector's last pass.

    With scikit-learn, MLflow and ONNX loaded that pass takes one to two seconds on a busy machine,
    more than anyone should wait after Ctrl-C. ``gc.freeze()`` skips it; ``atexit`` handlers and
    every ``finally`` still run, and reference counting still frees (and closes) everything else.
    """
    for signum in HANDLED:  # main() has returned: a late Ctrl-C could only garble the exit
        signal.signal(signum, signal.SIG_IGN)
    gc.freeze()
    sys.exit(code)
