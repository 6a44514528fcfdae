"""Sparse voxel tensors and the operations stage 2 needs: feature-wise layers, norms,
down/up-sampling and subdivision, submanifold convolution (our exact torch backend, or
spconv on CUDA) and full / windowed attention through torch SDPA."""

from .attention import (SparseSelfAttention, full_cross_attention, full_self_attention, window_partition,
                        windowed_self_attention)
from .conv import (SparseConv3d, build_neighbour_map, conv1x1, get_conv_backend, set_conv_backend, spconv_available,
                   submanifold_conv_bruteforce, submanifold_conv_torch)
from .ops import (SparseGELU, SparseGroupNorm32, SparseLinear, SparseSiLU, downsample, sparse_layer_norm,
                  subdivide, upsample)
from .tensor import SparseTensor

__all__ = [
    "SparseTensor", "SparseLinear", "SparseSiLU", "SparseGELU", "SparseGroupNorm32", "sparse_layer_norm",
    "downsample", "upsample", "subdivide", "SparseConv3d", "conv1x1", "build_neighbour_map", "submanifold_conv_torch",
    "submanifold_conv_bruteforce", "set_conv_backend", "get_conv_backend", "spconv_available",
    "SparseSelfAttention", "full_self_attention", "full_cross_attention", "windowed_self_attention",
    "window_partition",
]
