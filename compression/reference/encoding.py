"""Encoded size of a reference variant: the byte length :func:`compression.quantize.encode` gives.

There are no trained weights, so the tensors are described by name, shape and the number of
non-zeros, and :func:`compression.quantize.encoded_size` (the encoder's own byte layout) turns
them into bytes. Unstructured sparsity is spread uniformly over the Conv/Linear weights
(*assumption*: the measured models prune globally by magnitude, which needs trained weights; a
uniform spread is the weight-free equivalent).
"""

from __future__ import annotations

from collections.abc import Sequence

from compression.quantize import (
    ALLOWED_BITS,
    TensorSpec,
    encoded_size,
    progressive_encoded_sizes,
    tensor_layout,
)
from compression.reference.counting import Tensor, nonzero_values

__all__ = [
    "ALLOWED_BITS",
    "encoded_size_bytes",
    "progressive_size_bytes",
    "tensor_size_bytes",
    "tensor_spec",
]


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")


def tensor_spec(t: Tensor, sparsity: float = 0.0) -> TensorSpec:
    """The encoder's view of ``t`` with a fraction ``sparsity`` of zeros in Conv/Linear weights."""
    return TensorSpec(t.name, t.shape, nonzero_values(t, sparsity))


def tensor_size_bytes(t: Tensor, bits: int, sparsity: float = 0.0) -> int:
    """Encoded payload bytes of one tensor at ``bits`` with a fraction ``sparsity`` of zeros
    (:func:`compression.quantize.tensor_layout`; the file header not included)."""
    _check_sparsity(sparsity)
    return tensor_layout(tensor_spec(t, sparsity), bits)[1]


def encoded_size_bytes(tensors: Sequence[Tensor], bits: int, sparsity: float = 0.0) -> int:
    """Bytes of :func:`compression.quantize.encode` for a model with these tensors, a fraction
    ``sparsity`` of every Conv/Linear weight pruned (:func:`compression.quantize.encoded_size`)."""
    _check_sparsity(sparsity)
    return encoded_size([tensor_spec(t, sparsity) for t in tensors], bits)


def progressive_size_bytes(tensors: Sequence[Tensor], bits: int, sparsity: float = 0.0) -> list[int]:
    """Bytes needed for the first ``p`` bit-planes, ``p = 1..bits``, of the encoding of
    :func:`encoded_size_bytes` (:func:`compression.quantize.progressive_encoded_sizes`)."""
    _check_sparsity(sparsity)
    return progressive_encoded_sizes([tensor_spec(t, sparsity) for t in tensors], bits)
