"""Atomic file writes: a crash never leaves a half-written file that a later run trusts."""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

__all__ = ["current_umask", "file_lock", "mkdir_problem", "atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_save_torch", "read_json_or_none",
           "ensure_writable_dir"]


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status`` on Linux >= 4.7); elsewhere
    set and restored at once (a moment in which another thread would create files with umask 0o077)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write through ``write(f)`` to a temporary file in the same folder, fsync, then rename over
    ``path``: readers see the old file or the whole new one, never a part. A crash before the
    rename leaves only a hidden ``.NAME.*.tmp`` file, which nothing reads. The file gets the
    permissions ``open()`` would give it (0o666 less the umask: 0644 under umask 022), not
    ``mkstemp``'s private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) atomically (see :func:`_atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically."""
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Serialise first, then write atomically: a failing ``json.dumps`` leaves no file at all."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json_or_none(path: str | os.PathLike) -> Any:
    """The JSON in ``path``, or None if it is missing or unreadable (never trusted half-written)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mkdir_problem(path: Path, e: OSError) -> str:
    """Why ``path`` could not be created, in words (names the file in the way, if any)."""
    for parent in [path, *path.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"{str(parent)!r} is a file, not a folder"
            break
    return e.strerror or type(e).__name__


def ensure_writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` if needed; raise PermissionError naming it when it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"{what} {str(path)!r} cannot be created ({mkdir_problem(path, e)})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {str(path)!r} is not writable")
    # root passes every access() check: prove it with a real file (read-only mounts, /proc, ...)
    try:
        fd, probe = tempfile.mkstemp(prefix=".ghostnas-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PermissionError(f"{what} {str(path)!r} is not writable ({e.strerror})") from None
    return path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the duration of the block: one
    holder at a time among the processes of this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
