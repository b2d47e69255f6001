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
