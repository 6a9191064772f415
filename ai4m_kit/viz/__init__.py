"""HoloViews set-up in one place: bokeh backend, inline resources for offline HTML reports."""

from __future__ import annotations

import os


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
