"""Quality: PSNR, SSIM, MS-SSIM (conventions named in the signatures) and VMAF through libvmaf."""

from .metrics import measure_pair, ms_ssim, pool_frames, psnr, rgb_to_y, ssim
from .vmaf import choose_model, vmaf_clip

__all__ = ["choose_model", "measure_pair", "ms_ssim", "pool_frames", "psnr", "rgb_to_y", "ssim", "vmaf_clip"]
