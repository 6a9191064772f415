"""Safe file output: atomic writes and fingerprints of inputs.

Every file the toolkit writes goes through :func:`atomic_path` (a temporary file in the same
folder, renamed over the target when complete), so an interrupted or killed run never leaves a
half-written file behind. :func:`fingerprint` keys caches and resumable outputs by the content
of their inputs (path, size and modification time of every file) and by the parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    On an error the temporary file is removed and ``path`` is left as it was.

    Example:
        >>> d = Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("done")
        >>> (d / "x.txt").read_text(), sorted(p.name for p in d.iterdir())
        ('done', ['x.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result gets a normal file's mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process's umask; read from /proc where possible (setting it to read it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_orphans(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers that were killed (their process is gone):
    only names this module makes, ``.<name>.<pid>.<random>.tmp``."""
    prefix = f".{path.name}."
    for p in path.parent.glob(f"{glob_escape(prefix)}*.tmp"):
        pid = p.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            p.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _file_facts(path: Path) -> list:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def fingerprint(path: str | os.PathLike, *parameters) -> str:
    """Hex key of a file or folder's content (resolved path, and name, size and mtime of the
    file or of every file directly inside the folder) and of ``parameters`` (JSON-able).

    A replaced or edited file changes its size or modification time, so a key computed before
    no longer matches.

    Example:
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.png").write_bytes(b"1")
        >>> k = fingerprint(d, "p910-2021")
        >>> _ = (d / "a.png").write_bytes(b"22")
        >>> k == fingerprint(d, "p910-2021"), k == fingerprint(d, "p910-2022")
        (False, False)
    """
    path = Path(path).resolve()
    if path.is_dir():
        facts = [_file_facts(p) for p in sorted(path.iterdir()) if p.is_file()]
    else:
        facts = [_file_facts(path)]
    blob = json.dumps([str(path), facts, list(parameters)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
