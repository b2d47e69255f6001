"""Every error this project reports to the user, in one place.

Library code raises these (never ``sys.exit`` or ``print``); ``cli.run`` catches ``MoviesError``
once, prints one ``error: ...`` line on stderr and exits 1. A usage error (a bad flag) is
argparse's business: exit 2 before any work starts.
"""


class MoviesError(Exception):
    """Base class for every error this project reports to the user."""


class LockTimeout(MoviesError):
    """Another run held a lock for longer than we were willing to wait."""


class FileWriteError(MoviesError):
    """A file could not be written (a full disk, a read-only folder); nothing was replaced."""


class DownloadError(MoviesError):
    """The data set could not be downloaded or did not verify."""


class DamagedFileError(MoviesError):
    """A cache file's content does not match its checksum: it was damaged after it was written."""


class DataError(MoviesError):
    """The MovieLens files are missing or malformed."""


class NoMatchError(MoviesError, LookupError):
    """No movie matches the query (no plausible title, or an unknown movieId)."""


class NotSureError(NoMatchError):
    """The best title match is too weak to act on (a stopword-only query, a number the title
    lacks); the message lists the candidates."""


class QueryError(MoviesError):
    """The query asks for something the data cannot hold (say, a genre no movie has)."""
