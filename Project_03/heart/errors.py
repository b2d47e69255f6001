"""Every error this project reports to the user, in one place.

Library code raises these (never ``sys.exit`` or ``print``); ``cli.run`` catches ``HeartError``
once, prints one ``error: ...`` line on stderr and exits 1. A usage error (a bad flag) is
argparse's business: exit 2 before any work starts. This module imports nothing, so the boundary
can catch every error of ``train`` and ``evaluate`` without loading scikit-learn for ``predict``.
"""


class HeartError(Exception):
    """Base class for every error this project reports to the user."""


class LockTimeout(HeartError):
    """Another run held a lock for longer than we were willing to wait."""


class FileWriteError(HeartError):
    """A file could not be written (a full disk, a read-only folder); nothing was replaced."""


class SettingsError(HeartError):
    """Settings the data cannot satisfy (too few rows of a class for the split or the folds)."""


class DataSourceError(HeartError):
    """The data could not be fetched, or is not in a format this project reads."""


class DataValidationError(HeartError):
    """The data cannot be trained on."""


class ExportError(HeartError):
    """The ONNX model does not reproduce scikit-learn's probabilities."""


class ArtifactError(HeartError):
    """The output folder cannot take this run's artifacts without harming other files."""


class TrackingError(HeartError):
    """The MLflow store or the Optuna storage cannot be used."""


class PatientValidationError(HeartError):
    """Patient records that cannot be scored."""


class ModelFileError(HeartError):
    """A model file this project cannot load, or one that does not belong with its folder."""


class StudyError(HeartError):
    """A shared Optuna study that cannot be used: its storage cannot be opened, or it was made
    for other data or another search."""
class ServeError(HeartError):
    """The server cannot listen on the address asked for (taken, or not this machine's)."""
