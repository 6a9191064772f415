"""Size profiles shared by every study: ``smoke`` (CI), ``demo`` (laptop CPU), ``paper`` (GPU)."""

from __future__ import annotations

import os

PROFILES = ("smoke", "demo", "paper")
ENV_VAR = "AI4M_PROFILE"


def resolve_profile(profile: str | None = None, *, default: str = "demo") -> str:
    """Return the profile to run: ``profile`` if given, else ``$AI4M_PROFILE``, else ``default``.

    An explicit choice (a ``--profile`` option, an argument) wins over the environment; a
    notebook's parameters cell calls ``resolve_profile(default="demo")`` so that CI and the report
    builder can run every notebook at one size through ``AI4M_PROFILE``.

    Example:
        >>> import os; os.environ["AI4M_PROFILE"] = "paper"
        >>> resolve_profile("smoke"), resolve_profile(default="demo")
        ('smoke', 'paper')
        >>> del os.environ["AI4M_PROFILE"]; resolve_profile(default="demo")
        'demo'
    """
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}; got {profile!r}")
        return profile
    chosen = os.environ.get(ENV_VAR) or default
    if chosen not in PROFILES:
        source = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default"
        raise ValueError(f"{source} must be one of {PROFILES}; got {chosen!r}")
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
