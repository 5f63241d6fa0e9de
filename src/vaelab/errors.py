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


class StorageError(VaelabError):
    """A file of a run could not be written (a full disk, a lost mount); what was written
    before is intact."""


def storage_error(path, e: BaseException) -> StorageError:
    """A one-line StorageError for a failed write of ``path`` (``e``: OSError, or a library's
    I/O error wrapping one), saying what is intact and how to go on."""
    import errno

    text = " ".join(str(e).split())
    full = getattr(e, "errno", None) == errno.ENOSPC or "No space left" in text or \
        "os error 28" in text
    why = "the disk is full" if full else f"{type(e).__name__}: {text[:160]}"
    return StorageError(f"writing {path} failed: {why}; nothing already written was changed "
                        "(the previous checkpoint and metrics are intact): free space, then "
                        "continue with --resume")
