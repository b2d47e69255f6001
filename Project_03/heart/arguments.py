"""argparse building blocks: the project's parser class and the types its flags share.

``ArgumentParser`` adds three habits to argparse: every ``--help`` shows the defaults and ends
with the exit codes; ``--option=--`` is refused (Python 3.11's argparse turns that value into an
empty list that no ``type`` check sees); and an optional default subcommand, so that
``script.py --flag`` means ``script.py DEFAULT --flag``. Subparsers made with ``add_parser`` are
of the same class, so they share all three.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_CODES = ("exit codes: 0 done, 1 error (one 'error:' line on stderr), 2 usage error, "
              "130 Ctrl-C, 141 output closed early (| head), 143 SIGTERM")
HELP_FLAGS = ("-h", "--help")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with defaults and exit codes in ``--help``, ``--option=--``
    refused, and ``default_command`` run when the first argument is an option (or none)."""

    def __init__(self, *args: Any, default_command: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", EXIT_CODES)
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        argv = list(sys.argv[1:] if args is None else args)
        for arg in argv:
            if arg.startswith("-") and arg.endswith("=--"):
                self.error(f"argument {arg[:-3]}: '--' is not a value")
        if self.default_command and (not argv or (argv[0].startswith("-")
                                                  and argv[0] not in HELP_FLAGS)):
            argv.insert(0, self.default_command)
        return super().parse_args(argv, namespace)


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
        return value
    return parse


def float_range(low: float, high: float, *, include_low: bool = True,
                include_high: bool = True) -> Callable[[str], float]:
    """An argparse type: a number between ``low`` and ``high`` (each end in or out)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        above = low <= value if include_low else low < value
        below = value <= high if include_high else value < high
        if not (above and below):  # NaN fails both
            opening, closing = "[" if include_low else "(", "]" if include_high else ")"
            interval = f"{opening}{low:g}, {high:g}{closing}"
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {text}")
        return value
    return parse


def non_empty(text: str) -> str:
    """An argparse type: text that is not blank (an unset shell variable)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def non_empty_path(text: str) -> Path:
    """An argparse type: a path; an empty one would silently mean the current folder."""
    if "\0" in non_empty(text):
        raise argparse.ArgumentTypeError(f"a path cannot contain a NUL character: {text!r}")
    return Path(text)
