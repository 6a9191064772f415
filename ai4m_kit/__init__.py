"""ai4m-kit: notebook-first toolkit for the AI4Media D5.3 research.

Sub-packages: ``data`` (sample corpus, loaders), ``video`` (content descriptors),
``quality`` (PSNR/SSIM/VMAF), ``linalg`` (batched eigh, matrix square roots,
whitening layers), ``models``, ``ssl``, ``studies`` (one module per notebook)
and ``viz`` (HoloViews set-up).
"""

__version__ = "0.1.0"
