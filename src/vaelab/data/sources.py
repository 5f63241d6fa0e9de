"""Where data lives: local directories first (``$VAELAB_DATA``, the cache), then upstream.

Real users are online and get files from upstream (verified, converted once into the cache);
offline machines read local copies and get an error that lists the paths and URLs tried.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from vaelab.errors import DataError


def require_scipy(what: str):
    """``scipy.io.loadmat``, or a one-line error naming the extra that installs it."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(f"reading {what} needs SciPy: pip install 'vaelab[mat]' (or scipy)"
                        ) from None
    return loadmat


def search_dirs() -> list[Path]:
    """Directories searched for data files, in order: ``$VAELAB_DATA`` (``os.pathsep``-separated),
    then the cache ``$VAELAB_CACHE`` (default ``~/.cache/vaelab``)."""
    dirs = [Path(p) for p in os.environ.get("VAELAB_DATA", "").split(os.pathsep) if p]
    return [*dirs, cache_dir()]


def cache_dir() -> Path:
    return Path(os.environ.get("VAELAB_CACHE", Path.home() / ".cache" / "vaelab"))


def find_file(*names: str) -> Path | None:
    """First existing ``dir/name`` over ``search_dirs()`` x ``names`` (names may hold subdirs)."""
    for d in search_dirs():
        for name in names:
            p = d / name
            if p.is_file():
                return p
    return None


def digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file (``md5`` as MNIST publishes, or ``sha256``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, expected_md5: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically; verify the md5 when given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        if expected_md5 is not None and digest(Path(tmp)) != expected_md5:
            raise DataError(f"downloaded {url} but its md5 does not match {expected_md5}; "
                            "the upstream file changed or the download was corrupted: retry")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def fetch(names: list[str], urls: list[str], what: str,
          md5s: list[str | None] | None = None, subdir: str = "") -> list[Path]:
    """Local copies of ``names`` (each as ``name`` or ``subdir/name`` in a data folder) if all
    are found; else download ``urls`` into the cache.

    Raises DataError naming every path searched and every URL when neither works (offline).
    """
    found = [find_file(n, f"{subdir}/{n}") if subdir else find_file(n) for n in names]
    local = [f for f in found if f is not None]
    if len(local) == len(names):
        return local
    md5s = md5s or [None] * len(names)
    out: list[Path] = []
    try:
        for name, url, m, f in zip(names, urls, md5s, found):
            out.append(f if f is not None else download(url, cache_dir() / name, m))
    except DataError:
        raise
    except OSError as e:
        tried = ", ".join(str(d / n) for d in search_dirs() for n in names)
        raise DataError(
            f"{what} not found locally and download failed ({e.__class__.__name__}: {e}). "
            f"Searched: {tried}. Upstream: {', '.join(urls)}. "
            "Fix: put the files in a directory and set VAELAB_DATA=that/directory, "
            "or run once with internet access."
        ) from None
    return out
