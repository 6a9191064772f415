"""One training loop for every study: seeded, with progress, checkpoints, resume and a result cache.

:func:`fit` trains a model by a user step function on batches that are a pure function of
``(seed, step)``, so a run resumed from a checkpoint draws exactly the batches an uninterrupted
run would have drawn. Results are cached under :func:`cache_root` by a key of the configuration,
the data and the library version (:func:`cache_key`): rerunning a notebook loads the trained
model instead of training it again, and any change of configuration or data trains anew.
"""

from .loop import TrainResult, cache_key, cache_root, fit, step_generator

__all__ = ["TrainResult", "cache_key", "cache_root", "fit", "step_generator"]
