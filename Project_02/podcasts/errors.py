"""Every error this project reports to the user, in one place.

Library code raises these (never ``sys.exit`` or ``print``); ``cli.run`` catches ``PodcastError``
once, prints one ``error: ...`` line on stderr and exits 1. A usage error (a bad flag) is
argparse's business: exit 2 before any work starts.
"""


class PodcastError(Exception):
    """Base class for every error this project reports to the user."""


class LockTimeout(PodcastError):
    """Another run held a lock for longer than we were willing to wait."""


class FileWriteError(PodcastError):
    """A file could not be written (a full disk, a read-only folder); nothing was replaced."""


class SettingsError(PodcastError):
    """A setting from the environment (a ``PODCAST_*`` variable) is out of range."""


class FeedError(PodcastError):
    """The feed could not be fetched or parsed."""


class SearchError(PodcastError):
    """A search cannot be run as asked (a feed the database does not hold, a hit past the last)."""


class SubscriptionError(PodcastError):
    """A subscription cannot be changed as asked (an unknown URL, nothing subscribed)."""


class OpmlError(PodcastError):
    """An OPML file cannot be read (not XML, not OPML) or holds no feed to import."""


class StorageError(PodcastError):
    """The SQLite database cannot be read or written (its path is in the message)."""


class DownloadError(PodcastError):
    """An episode cannot be downloaded (not worth retrying)."""


class IncompleteDownload(DownloadError):
    """The server sent fewer bytes than it promised (worth retrying, resuming where it stopped)."""


class ModelError(PodcastError):
    """The speech-to-text model cannot be found, verified or loaded."""


class AudioDecodeError(PodcastError):
    """An audio file cannot be decoded, or decodes to less than it should hold."""
