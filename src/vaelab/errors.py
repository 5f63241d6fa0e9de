"""User-facing errors: each names the problem and the fix; the CLI prints them on one line."""


class VaelabError(Exception):
    """Base class for errors that the CLI reports as one line and a non-zero exit."""


class DataError(VaelabError):
    """A data set is missing, corrupt, or of the wrong shape or type."""


class CheckpointError(VaelabError):
    """A checkpoint or run directory is missing or corrupt."""


class ConfigError(VaelabError):
    """An option or combination of options is invalid."""


class DivergenceError(VaelabError):
    """Training produced a NaN or Inf; the last good checkpoint is kept."""
