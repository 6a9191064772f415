"""Benchmarks: each prints ratios against a baseline measured in the same run (``ai4m bench ...``).

``coverage`` (SI/TI against siti-tools and FFmpeg), ``sqrtm`` (matrix square roots against
Newton-Schulz), ``eigh`` (batched eigensolvers against ``torch.linalg.eigh``), ``degrade``
(bicubic, blur and BSRGAN per 1080p frame, bicubic against Pillow), ``upscale`` (the classical
upscalers against Pillow), ``quality`` (PSNR/SSIM against torchmetrics, VMAF's subprocess
overhead), ``ssl`` (the W-MSE whitening step against the official formulation). Timing helpers are
in :mod:`ai4m_kit.timing`. Import the module you need; this package imports none of them.
"""
