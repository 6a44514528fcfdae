"""A small sparse voxel tensor: integer coordinates ``[batch, x, y, z]`` plus one feature row each.

Rows of one batch item are contiguous (the layout is a list of slices). Operations that
only change features (linear layers, norms, activations) keep the coordinates and share
the `cache`, a dict in which expensive coordinate-derived structures live: convolution
neighbour maps, attention window partitions and the parent coordinates needed to undo a
down-sampling. Nothing here depends on a convolution library.
"""

from __future__ import annotations

from typing import Callable

import torch


class SparseTensor:
    """Features `feats` (N, ...) at integer coordinates `coords` (N, 4) = [batch, x, y, z].

    `batch_size` defaults to ``coords[:, 0].max() + 1``. Rows must be grouped by batch index
    (ascending); this is checked once when the layout is computed.
    """

    __slots__ = ("feats", "coords", "batch_size", "_layout", "cache")

    def __init__(self, feats: torch.Tensor, coords: torch.Tensor, batch_size: int | None = None,
                 layout: list[slice] | None = None, cache: dict | None = None):
        if coords.dim() != 2 or coords.shape[1] != 4:
            raise ValueError(f"coords must be (N, 4) [batch, x, y, z], got {tuple(coords.shape)}")
        if feats.shape[0] != coords.shape[0]:
            raise ValueError(f"feats has {feats.shape[0]} rows but coords has {coords.shape[0]}")
        if coords.dtype not in (torch.int32, torch.int64):
            coords = coords.int()
        self.feats = feats
        self.coords = coords
        if batch_size is None:
            batch_size = int(coords[:, 0].max().item()) + 1 if coords.shape[0] else 1
        self.batch_size = int(batch_size)
        self._layout = layout
        self.cache = {} if cache is None else cache

    # ------------------------------------------------------------------ structure
    @property
    def layout(self) -> list[slice]:
        """One slice of rows per batch item."""
        if self._layout is None:
            b = self.coords[:, 0].long()
            if b.numel() > 1 and bool((b[1:] < b[:-1]).any()):
                raise ValueError("SparseTensor rows must be grouped by batch index (ascending)")
            counts = torch.bincount(b, minlength=self.batch_size).tolist()
            layout, start = [], 0
            for n in counts:
                layout.append(slice(start, start + n))
                start += n
            self._layout = layout
        return self._layout

    @property
    def batch_index(self) -> torch.Tensor:
        """(N,) int64 batch index of every row (cached)."""
        bi = self.cache.get("batch_index")
        if bi is None or bi.shape[0] != self.coords.shape[0]:
            bi = self.coords[:, 0].long()
            self.cache["batch_index"] = bi
        return bi

    @property
    def device(self) -> torch.device:
        return self.feats.device

    @property
    def dtype(self) -> torch.dtype:
        return self.feats.dtype

    @property
    def num_channels(self) -> int:
        return self.feats.shape[-1]

    def __len__(self) -> int:
        return self.coords.shape[0]

    def __repr__(self) -> str:
        return (f"SparseTensor(N={self.coords.shape[0]}, batch={self.batch_size}, "
                f"feats={tuple(self.feats.shape)}, dtype={self.feats.dtype}, device={self.feats.device})")

    # ------------------------------------------------------------------ derived tensors
    def replace(self, feats: torch.Tensor) -> "SparseTensor":
        """Same coordinates (and shared cache), new features."""
        return SparseTensor(feats, self.coords, self.batch_size, self._layout, self.cache)

    def with_coords(self, feats: torch.Tensor, coords: torch.Tensor, batch_size: int | None = None) -> "SparseTensor":
        """New coordinates: a fresh cache."""
        return SparseTensor(feats, coords, batch_size if batch_size is not None else self.batch_size)

    def to(self, device=None, dtype=None) -> "SparseTensor":
        feats = self.feats.to(device=device, dtype=dtype)
        coords = self.coords.to(device=device)
        if coords.device == self.coords.device:
            return SparseTensor(feats, coords, self.batch_size, self._layout, self.cache)
        return SparseTensor(feats, coords, self.batch_size, self._layout)

    def type(self, dtype: torch.dtype) -> "SparseTensor":
        return self if self.feats.dtype == dtype else self.replace(self.feats.to(dtype))

    def per_batch(self, values: torch.Tensor) -> torch.Tensor:
        """Expand a (batch, ...) tensor to one row per voxel (row i gets values[batch of i])."""
        if values.shape[0] == 1:
            return values.expand(self.coords.shape[0], *values.shape[1:])
        if values.shape[0] != self.batch_size:
            raise ValueError(f"per-batch values have {values.shape[0]} rows for batch size {self.batch_size}")
        return values[self.batch_index]

    def _elementwise(self, other, op: Callable) -> "SparseTensor":
        if isinstance(other, SparseTensor):
            other = other.feats
        return self.replace(op(self.feats, other))

    def __add__(self, other):
        return self._elementwise(other, torch.add)

    __radd__ = __add__

    def __sub__(self, other):
        return self._elementwise(other, torch.sub)

    def __rsub__(self, other):
        return self._elementwise(other, lambda a, b: torch.sub(b, a))

    def __mul__(self, other):
        return self._elementwise(other, torch.mul)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._elementwise(other, torch.div)

    def __neg__(self):
        return self.replace(-self.feats)

    # ------------------------------------------------------------------ batch items
    def item(self, i: int) -> "SparseTensor":
        """Batch item `i` as a batch-1 tensor (batch column set to 0)."""
        sl = self.layout[i]
        coords = self.coords[sl].clone()
        coords[:, 0] = 0
        return SparseTensor(self.feats[sl], coords, 1)

    @staticmethod
    def cat_batches(items: list["SparseTensor"]) -> "SparseTensor":
        """Stacks batch-1 (or larger) tensors into one batch, renumbering batch indices."""
        coords, feats, start = [], [], 0
        for t in items:
            c = t.coords.clone()
            c[:, 0] += start
            start += t.batch_size
            coords.append(c)
            feats.append(t.feats)
        return SparseTensor(torch.cat(feats), torch.cat(coords), start)


def coords_key(coords: torch.Tensor, extent: int, pad: int = 1) -> torch.Tensor:
    """A unique int64 key per [batch, x, y, z] row, for spatial coordinates in
    [-pad, extent + pad) (the padding leaves room for neighbour offsets). Keys sort like the
    rows would lexicographically: batch, then x, y, z."""
    c = coords.long()
    e = int(extent) + 2 * int(pad)
    return ((c[:, 0] * e + (c[:, 1] + pad)) * e + (c[:, 2] + pad)) * e + (c[:, 3] + pad)
