"""HoloViews set-up in one place (bokeh backend, inline resources for offline HTML reports) and the
seeded 2-D UMAP embedding the studies plot."""

from __future__ import annotations

import os

import numpy as np


def setup(inline: bool | None = None):
    """Load the HoloViews bokeh extension and return the ``holoviews`` module.

    Args:
        inline: embed BokehJS in the notebook output so that the rendered HTML needs no CDN.
            Defaults to True unless ``AI4M_INLINE=0``.

    Example (in a notebook):
        >>> hv = setup()  # doctest: +SKIP
    """
    import holoviews as hv
    import panel as pn

    if inline is None:
        inline = os.environ.get("AI4M_INLINE", "1") != "0"
    hv.extension("bokeh", inline=inline, logo=False)
    # Embed the state of every widget value (HoloMap sliders, selectors) in the output, so that
    # controls keep working in the static HTML report without a kernel.
    pn.config.embed = True
    hv.opts.defaults(
        hv.opts.Curve(width=600, height=350, tools=["hover"], show_grid=True),
        hv.opts.Scatter(width=600, height=400, tools=["hover"], size=7, show_grid=True),
        hv.opts.Bars(width=600, height=350, tools=["hover"]),
        hv.opts.RGB(width=480, height=270),
        hv.opts.Image(width=480, height=270, cmap="gray"),
    )
    return hv


def umap_embedding(x: np.ndarray, *, seed: int = 0, n_epochs: int | None = None) -> np.ndarray:
    """Seeded 2-D UMAP of standardised rows of ``x`` ``(N, C)``."""
    import warnings

    import umap

    z = (x - x.mean(0)) / (x.std(0) + 1e-12)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value")
        return umap.UMAP(n_components=2, random_state=seed, n_epochs=n_epochs).fit_transform(z)
