"""Every error this project reports to the user, in one place.

Library modules raise these; the command line catches ``MovieLensError`` at its boundary and
prints one ``error: ...`` line.
"""


class MovieLensError(Exception):
    """Base class for every error this project reports to the user."""


class DownloadError(MovieLensError):
    """The data set could not be downloaded or did not verify."""


class DataError(MovieLensError):
    """The MovieLens files are missing or malformed."""


class NoMatchError(MovieLensError, LookupError):
    """No movie matches the query (no plausible title, or an unknown movieId)."""


class CacheError(MovieLensError):
    """The cache folder cannot be created, locked or written."""


class TerminatedError(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C (cleaning up on the way), then exit 143, not 130."""


class QueryError(MovieLensError):
    """The query asks for something the data cannot hold (say, a genre no movie has)."""
