"""Ctrl-C (SIGINT) and SIGTERM end a run the same clean way.

Inside ``stop_on_signals()``, SIGINT raises ``KeyboardInterrupt`` and SIGTERM raises
``TerminatedError`` (a ``KeyboardInterrupt``), wherever the program is: blocked on the network, on
a lock or on a prompt. The exception unwinds through every ``finally`` and ``except BaseException``
on the way, which delete temporary files, so nothing half-written is left looking complete. The
command line then catches it, prints one line and exits with the shell's code for the signal:

    with stop_on_signals():
        try:
            return run(args)
        except KeyboardInterrupt as exc:
            print("error: interrupted", file=sys.stderr)
            return exit_code(exc)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from movie_errors import TerminatedError

EXIT_SIGINT = 128 + signal.SIGINT  # 130, what a shell reports for a Ctrl-C'd program
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(signum: int, _frame: FrameType | None) -> None:
    """Raise the signal's exception, and ignore repeats: a second Ctrl-C must not cut the
    clean-up short, nor land as a traceback while the interpreter shuts down."""
    for repeat in STOP_SIGNALS:
        signal.signal(repeat, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise TerminatedError("stopped by SIGTERM")
    raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into exceptions for the duration of the block.

    SIGINT is set explicitly because a program started in the background by a shell script
    inherits "ignore SIGINT". The previous handlers come back afterwards (tests call ``main()``
    in-process), unless a signal arrived: then the process is on its way out and keeps ignoring
    repeats. Outside the main thread, where Python cannot set handlers, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        if all(signal.getsignal(signum) is _stop for signum in STOP_SIGNALS):
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The exit code for a run stopped by ``exc``: 143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_SIGTERM if isinstance(exc, TerminatedError) else EXIT_SIGINT
