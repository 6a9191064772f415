"""Batched linear algebra for deep learning: eigendecomposition, matrix square roots, whitening."""
