"""Size profiles shared by every study: ``smoke`` (CI), ``demo`` (laptop CPU), ``paper`` (GPU)."""

from __future__ import annotations

import os

PROFILES = ("smoke", "demo", "paper")
ENV_VAR = "AI4M_PROFILE"


def resolve_profile(profile: str | None = None) -> str:
    """Return the active profile: ``$AI4M_PROFILE`` if set, else ``profile``, else ``"demo"``.

    The environment variable wins so that CI and the report builder can run every notebook at
    one size without editing its parameters cell.

    Example:
        >>> import os; os.environ.pop("AI4M_PROFILE", None) and None
        >>> resolve_profile("smoke")
        'smoke'
    """
    chosen = os.environ.get(ENV_VAR) or profile or "demo"
    if chosen not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}; got {chosen!r}")
    return chosen


def pick(profile: str, **sizes):
    """Pick the value for ``profile`` from keyword sizes, e.g. ``pick(p, smoke=2, demo=8, paper=64)``.

    Example:
        >>> pick("smoke", smoke=2, demo=8, paper=64)
        2
    """
    if profile not in sizes:
        raise ValueError(f"no size given for profile {profile!r}; have {sorted(sizes)}")
    return sizes[profile]
