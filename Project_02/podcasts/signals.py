"""Ctrl-C (SIGINT) and SIGTERM end a run the same clean way, wherever it is.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM kill the process on the spot,
skipping every ``finally`` (temporary files stay behind). Inside :func:`handle_signals` both raise
:class:`Interrupted`, which unwinds through every ``finally`` on the way; ``cli.run`` then prints
one line and exits 130 (Ctrl-C) or 143 (SIGTERM). Once a signal has arrived, repeats are ignored:
a second Ctrl-C must not cut the clean-up short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

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


_arrived: list[int] = []  # the signal that arrived inside handle_signals, if any


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    for handled in HANDLED:  # a second Ctrl-C must not cut the clean-up short
        signal.signal(handled, signal.SIG_IGN)
    _arrived.append(signum)
    raise Interrupted(signum)


def check_interrupted() -> None:
    """Raise :class:`Interrupted` again if a signal arrived but its exception was lost.

    A handler's exception raised while compiled code calls back into Python can vanish (PyAV
    decoding lost about one Ctrl-C in four here); a loop over such code calls this between
    steps, so the signal still ends the run.
    """
    if _arrived:
        raise Interrupted(_arrived[0])


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
    _arrived.clear()
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in HANDLED}
    try:
        yield
    finally:
        _arrived.clear()  # its exception has propagated (or was lost): not raised again outside
        if all(signal.getsignal(signum) is _raise_interrupted for signum in HANDLED):
            for signum, handler in previous.items():
                signal.signal(signum, handler)
