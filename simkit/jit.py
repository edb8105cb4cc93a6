"""Numba compilation with an on-disk cache in a per-user folder.

Compiled functions are cached so that only the first run on a machine pays the
compile time.  Unless the user has set ``NUMBA_CACHE_DIR``, the cache goes to
``$XDG_CACHE_HOME/simkit/numba`` (``~/.cache/simkit/numba`` without
``XDG_CACHE_HOME``), set before numba is imported; numba is imported on first use,
not with simkit.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from simkit.errors import SimkitError

__all__ = ["cache_dir", "njit"]

F = TypeVar("F", bound=Callable[..., Any])


def cache_dir() -> Path:
    """The folder numba caches simkit's compiled functions in.

    Returns
    -------
    pathlib.Path
        ``NUMBA_CACHE_DIR`` if set, else ``simkit/numba`` under ``XDG_CACHE_HOME``
        (or ``~/.cache``).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "simkit" / "numba"


@functools.cache
def _prepare_cache() -> None:
    """Create the cache folder, check it is writable, and point numba at it.

    Raises
    ------
    SimkitError
        The folder cannot be created or written.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SimkitError(
            f"numba cache folder {folder} cannot be created or written ({exc.strerror or exc}); "
            "set NUMBA_CACHE_DIR to a writable folder"
        ) from None
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba.core.config" in sys.modules:  # numba imported before simkit set the folder
        sys.modules["numba.core.config"].CACHE_DIR = str(folder)


def njit(func: F | None = None, *, inline: bool = False) -> Any:
    """``numba.njit(cache=True)``, with the cache folder prepared first (see the module).

    Parameters
    ----------
    func : callable, optional
        The function; without it, returns the decorator (``@njit(inline=True)``).
    inline : bool
        Inline the function into its compiled callers (numba's ``inline="always"``):
        no call overhead nor reference counting of the array arguments in hot loops.
    """
    if func is None:
        return functools.partial(njit, inline=inline)
    _prepare_cache()
    try:
        import numba
    except ImportError:
        raise SimkitError(
            "numba is not installed; install numba>=0.60 (a simkit dependency)"
        ) from None
    return numba.njit(cache=True, inline="always" if inline else "never")(func)
