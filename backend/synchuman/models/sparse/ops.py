"""Feature-wise layers and resolution changes on SparseTensors.

Key names follow the released checkpoints (a SparseLinear is an ``nn.Linear``; the group
norm is an ``nn.GroupNorm`` with ``weight``/``bias``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tensor import SparseTensor, coords_key


class SparseLinear(nn.Linear):
    """Linear layer on the features (checkpoint keys ``weight``, ``bias``)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseSiLU(nn.Module):
    def forward(self, x: SparseTensor) -> SparseTensor:
        return x.replace(F.silu(x.feats))


class SparseGELU(nn.Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: SparseTensor) -> SparseTensor:
        return x.replace(F.gelu(x.feats, approximate=self.approximate))


def sparse_layer_norm(x: SparseTensor, eps: float = 1e-5, weight=None, bias=None) -> SparseTensor:
    """Layer norm over channels, computed in float32."""
    f = x.feats
    out = F.layer_norm(f.float(), f.shape[-1:], weight, bias, eps)
    return x.replace(out.to(f.dtype))


class SparseGroupNorm32(nn.GroupNorm):
    """Group norm over (channels of a group) x (all voxels of one batch item), in float32."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        f = x.feats
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        if x.batch_size == 1:
            out = F.group_norm(f.float().t().unsqueeze(0), self.num_groups, w, b, self.eps)[0].t()
        else:
            out = torch.empty(f.shape, dtype=torch.float32, device=f.device)
            for sl in x.layout:
                if sl.stop > sl.start:
                    seg = f[sl].float().t().unsqueeze(0)
                    out[sl] = F.group_norm(seg, self.num_groups, w, b, self.eps)[0].t()
        return x.replace(out.to(f.dtype).contiguous())


def downsample(x: SparseTensor, factor: int = 2) -> SparseTensor:
    """Pools voxels into parents ``coord // factor`` (per batch item).

    The released networks were trained with torch ``scatter_reduce(..., 'mean')`` onto a
    zero tensor with ``include_self=True``, which counts the initial zero: a parent gets
    sum(children) / (number of children + 1). That is reproduced here exactly.
    Output rows are sorted by (batch, x, y, z). The returned tensor remembers the fine
    coordinates, so `upsample` can copy parent features back to them.
    """
    coarse = x.coords.clone()
    coarse[:, 1:] = torch.div(coarse[:, 1:], factor, rounding_mode="floor")
    extent = int(coarse[:, 1:].max().item()) + 1 if coarse.shape[0] else 1
    keys = coords_key(coarse, extent, pad=0)
    uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    m = uniq.shape[0]
    feats = x.feats
    summed = feats.new_zeros((m,) + tuple(feats.shape[1:]))
    summed.index_add_(0, inverse, feats)
    counts = (torch.bincount(inverse, minlength=m) + 1).to(feats.dtype)
    mean = summed / counts.view(-1, *([1] * (feats.dim() - 1)))
    new_coords = torch.empty(m, 4, dtype=x.coords.dtype, device=x.coords.device)
    new_coords[inverse] = coarse  # every parent receives the (identical) coarse coordinate
    out = SparseTensor(mean, new_coords, x.batch_size)
    out.cache["upsample_parent"] = (factor, x.coords, x.layout, inverse, x.cache)
    return out


def upsample(x: SparseTensor, factor: int = 2) -> SparseTensor:
    """Inverse of `downsample`: every fine voxel takes its parent's features."""
    parent = x.cache.get("upsample_parent")
    if parent is None or parent[0] != factor:
        raise ValueError("upsample needs a tensor produced by downsample with the same factor")
    _, fine_coords, fine_layout, inverse, fine_cache = parent
    return SparseTensor(x.feats[inverse], fine_coords, x.batch_size, fine_layout, fine_cache)


_CHILD_OFFSETS = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def subdivide(x: SparseTensor) -> SparseTensor:
    """Splits every voxel into its 8 children ``2*coord + {0,1}^3`` with copied features.

    Rows are parent-major; children in the order (0,0,0), (0,0,1), (0,1,0), ..., (1,1,1).
    The child coordinates are cached on the input, so several subdivisions of tensors that
    share coordinates also share the result's cache (neighbour maps are built once).
    """
    cached = x.cache.get("subdivided")
    n = x.coords.shape[0]
    if cached is None or cached[0].shape[0] != 8 * n:
        offs = _CHILD_OFFSETS.to(device=x.coords.device, dtype=x.coords.dtype)
        c = x.coords.clone()
        c[:, 1:] *= 2
        child = c.unsqueeze(1).repeat(1, 8, 1)
        child[:, :, 1:] += offs.unsqueeze(0)
        child = child.reshape(-1, 4)
        layout = [slice(8 * s.start, 8 * s.stop) for s in x.layout]
        cached = (child, layout, {})
        x.cache["subdivided"] = cached
    child, layout, cache = cached
    feats = x.feats.unsqueeze(1).expand(n, 8, *x.feats.shape[1:]).reshape(8 * n, *x.feats.shape[1:])
    return SparseTensor(feats, child, x.batch_size, layout, cache)
