"""argparse building blocks: the project's parser class and the types its flags share.

``ArgumentParser`` adds three habits to argparse: every ``--help`` shows the defaults and ends
with the exit codes; ``--option=--`` is refused (Python 3.11's argparse turns that value into an
empty list that no ``type`` check sees); and an optional default subcommand, so that
``script.py --flag`` means ``script.py DEFAULT --flag``. Subparsers made with ``add_parser`` are
of the same class, so they share all three. The types at the end are this project's own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


seconds = float_range(0.0, 86400.0)  # a wait: none at all up to a day


DEFAULT_PORTS = {"http": 80, "https": 443}
# Schemes podcast apps write for an http feed (in OPML files and "subscribe" links).
APP_SCHEMES = ("feed:", "itpc:", "pcast:")


def http_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host, in one spelling per feed.

    The spellings of one address become one (so a feed is not subscribed twice): scheme and host
    in lower case, no default port, no ``#fragment`` (never sent to the server), ``/`` for an
    empty path; ``feed://``, ``itpc://`` and ``pcast://`` (what podcast apps write) mean
    ``http://``, and ``feed:https://...`` means ``https://...``. The path and query keep their
    case: a server may tell them apart.

    Raises:
        argparse.ArgumentTypeError: not http(s), no host, or malformed (``http://[::1``, a port
            over 65535).
    """
    url = text.split("#", 1)[0].strip()
    for scheme in APP_SCHEMES:
        if url.lower().startswith(scheme):
            rest = url[len(scheme):]
            url = rest if rest.lower().startswith(("http:", "https:")) else "http:" + rest
            break
    try:
        parts = urlsplit(url)
        number = parts.port
    except ValueError as exc:  # http://[::1, a port over 65535 or not a number
        raise argparse.ArgumentTypeError(f"must be an http(s) URL, got {text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise argparse.ArgumentTypeError(f"must be an http(s) URL, got {text!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = "" if number in (None, DEFAULT_PORTS[scheme]) else f":{number}"
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@{host}{port}" if user else f"{host}{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")).strip()
