"""Submanifold sparse 3D convolution with two interchangeable backends.

Convention (the released checkpoints, spconv 2.x ``SubMConv3d``; golden cases ``s`` and ``d``):
weight layout ``(out, kx, ky, kz, in)``, outputs only at input sites, and

    out[i] = bias + sum_j W[:, dx + r, dy + r, dz + r, :] @ feat[j]

over active voxels j of the same batch item with (dx, dy, dz) = coord_j - coord_i in
{-r..r}^3, r = kernel_size // 2 (a cross-correlation). Exception, as in spconv: a 1x1x1
kernel multiplies by the weight buffer viewed as (in, out) (see `conv1x1`).

Backends
- ``torch`` (ours, default, and the only one used on CPU): build the neighbour map once per
  coordinate set (sorted int64 keys + searchsorted), then for every kernel offset gather the
  input rows, multiply by that offset's (in, out) matrix and scatter-add into the output
  rows. Exact: no hashing collisions, deterministic, works on any device.
- ``spconv`` (CUDA only, imported lazily): spconv's ``SubMConv3d`` sharing our parameters.
  spconv's CPU build computes wrong results (``docs/environment.md``), so it is never used
  for CPU tensors.

Select with ``set_conv_backend("auto" | "torch" | "spconv")`` or the environment variable
``SYNCHUMAN_SPARSE_CONV``; ``auto`` picks spconv for CUDA tensors when it imports, else torch.
"""

from __future__ import annotations

import itertools
import logging
import os

import torch
import torch.nn as nn

from .tensor import SparseTensor, coords_key

log = logging.getLogger("synchuman.sparse")

_BACKENDS = ("auto", "torch", "spconv")
_backend = os.environ.get("SYNCHUMAN_SPARSE_CONV", "auto").strip().lower() or "auto"
if _backend not in _BACKENDS:
    log.warning("SYNCHUMAN_SPARSE_CONV=%r is not one of %s; using auto", _backend, _BACKENDS)
    _backend = "auto"

# Rows per gather chunk are chosen so one gathered block stays below this many bytes.
GATHER_CHUNK_BYTES = 256 * 1024 * 1024


def set_conv_backend(name: str) -> None:
    global _backend
    name = name.strip().lower()
    if name not in _BACKENDS:
        raise ValueError(f"unknown sparse conv backend {name!r}; choose one of {_BACKENDS}")
    _backend = name


def get_conv_backend() -> str:
    return _backend


def spconv_available() -> tuple[bool, str]:
    """(usable, reason): spconv is usable only with CUDA and an importable spconv."""
    if not torch.cuda.is_available():
        return False, "no CUDA device (spconv's CPU build computes wrong results and is never used)"
    try:
        import spconv.pytorch  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the machine
        return False, f"spconv is not importable: {exc}"
    return True, ""


def resolve_backend(device: torch.device) -> str:
    if device.type != "cuda":
        if _backend == "spconv":
            log.warning("spconv backend requested for a %s tensor; using the exact torch backend", device.type)
        return "torch"
    if _backend == "torch":
        return "torch"
    ok, reason = spconv_available()
    if not ok:
        if _backend == "spconv":
            raise RuntimeError(f"sparse conv backend 'spconv' requested but {reason}")
        return "torch"
    return "spconv"


# ----------------------------------------------------------------------------- neighbour map
class NeighbourMap:
    """For each kernel offset k (flattened (kx, ky, kz) index): output rows and input rows.

    ``pairs`` is a list of (k, out_rows, in_rows); offsets without any pair are omitted.
    The centre offset pairs every row with itself and is stored as ``None`` rows (identity).
    """

    def __init__(self, kernel_size: int, pairs: list[tuple[int, torch.Tensor | None, torch.Tensor | None]],
                 num_rows: int):
        self.kernel_size = kernel_size
        self.pairs = pairs
        self.num_rows = num_rows

    @property
    def num_pairs(self) -> int:
        return sum(self.num_rows if o is None else int(o.numel()) for _, o, _ in self.pairs)


def build_neighbour_map(coords: torch.Tensor, kernel_size: int = 3) -> NeighbourMap:
    """Exact submanifold neighbour pairs of `coords` (N, 4) for a cubic kernel."""
    r = kernel_size // 2
    n = coords.shape[0]
    device = coords.device
    if n == 0:
        return NeighbourMap(kernel_size, [], 0)
    extent = int(coords[:, 1:].max().item()) + 1
    if int(coords[:, 1:].min().item()) < 0:
        raise ValueError("sparse coordinates must be non-negative")
    keys = coords_key(coords, extent, pad=r)
    sorted_keys, order = torch.sort(keys)
    if n > 1 and bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
        raise ValueError("sparse coordinates contain duplicate voxels")
    rows = torch.arange(n, device=device)
    pairs: list = []
    offsets = list(itertools.product(range(-r, r + 1), repeat=3))
    for k, (dx, dy, dz) in enumerate(offsets):
        if dx == 0 and dy == 0 and dz == 0:
            pairs.append((k, None, None))
            continue
        shifted = coords.long().clone()
        shifted[:, 1] += dx
        shifted[:, 2] += dy
        shifted[:, 3] += dz
        q = coords_key(shifted, extent, pad=r)
        pos = torch.searchsorted(sorted_keys, q).clamp_(max=n - 1)
        found = sorted_keys[pos] == q
        if not bool(found.any()):
            continue
        pairs.append((k, rows[found], order[pos[found]]))
    return NeighbourMap(kernel_size, pairs, n)


def neighbour_map(x: SparseTensor, kernel_size: int) -> NeighbourMap:
    key = f"subm_map_{kernel_size}"
    m = x.cache.get(key)
    if m is None or m.num_rows != x.coords.shape[0]:
        m = build_neighbour_map(x.coords, kernel_size)
        x.cache[key] = m
    return m


def submanifold_conv_torch(feats: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           nmap: NeighbourMap) -> torch.Tensor:
    """Gather-GEMM-scatter submanifold convolution. weight: (out, k, k, k, in)."""
    cout, cin = weight.shape[0], weight.shape[-1]
    k = weight.shape[1]
    w = weight.reshape(cout, k * k * k, cin)
    n = feats.shape[0]
    if bias is not None:
        out = bias.to(feats.dtype).expand(n, cout).clone()
    else:
        out = feats.new_zeros(n, cout)
    chunk = max(1024, GATHER_CHUNK_BYTES // max(1, cin * feats.element_size()))
    for kidx, out_rows, in_rows in nmap.pairs:
        wk = w[:, kidx, :].to(feats.dtype).t()  # (in, out)
        if out_rows is None:
            out.addmm_(feats, wk)
            continue
        for s in range(0, out_rows.numel(), chunk):
            o = out_rows[s:s + chunk]
            i = in_rows[s:s + chunk]
            out.index_add_(0, o, feats.index_select(0, i) @ wk)
    return out


def conv1x1(feats: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """1x1x1 convolution exactly as spconv 2.x computes it (and so as the released weights
    were trained): spconv's 1x1 fast path multiplies by the (out, 1, 1, 1, in) weight buffer
    *viewed* as an (in, out) matrix (``FILTER_HWIO = False``), not by its transpose. Golden
    case d (mesh decoder skip connections) depends on this."""
    cout, cin = weight.shape[0], weight.shape[-1]
    out = feats @ weight.reshape(cin, cout).to(feats.dtype)
    return out + bias.to(feats.dtype) if bias is not None else out


def submanifold_conv_bruteforce(coords: torch.Tensor, feats: torch.Tensor, weight: torch.Tensor,
                                bias: torch.Tensor | None) -> torch.Tensor:
    """O(N^2) reference of the documented rule (for tests only)."""
    k = weight.shape[1]
    r = k // 2
    c = coords.long()
    out = feats.new_zeros(feats.shape[0], weight.shape[0], dtype=torch.float64)
    f64 = feats.double()
    w64 = weight.double()
    for i in range(c.shape[0]):
        d = c[:, 1:] - c[i, 1:]
        ok = (c[:, 0] == c[i, 0]) & (d.abs() <= r).all(dim=1)
        for j in torch.nonzero(ok).flatten().tolist():
            dx, dy, dz = (d[j] + r).tolist()
            out[i] += w64[:, dx, dy, dz, :] @ f64[j]
    if bias is not None:
        out += bias.double()
    return out.to(feats.dtype)


# ----------------------------------------------------------------------------- module
class _ConvParams(nn.Module):
    """Holds the parameters under the checkpoint's ``<name>.conv.{weight,bias}`` keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, kernel_size, kernel_size, kernel_size, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        if not self.weight.is_meta:
            nn.init.normal_(self.weight, std=(kernel_size ** 3 * in_channels) ** -0.5)


class SparseConv3d(nn.Module):
    """Submanifold (stride 1) sparse 3D convolution on a SparseTensor; odd cubic kernel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("only odd kernel sizes are supported (submanifold convolution)")
        self.conv = _ConvParams(in_channels, out_channels, kernel_size, bias)
        self.__dict__["_spconv_module"] = None  # not a registered submodule: no state-dict keys

    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: SparseTensor) -> SparseTensor:
        w, b = self.conv.weight, self.conv.bias
        if self.conv.kernel_size == 1:
            return x.replace(conv1x1(x.feats, w, b))
        if resolve_backend(x.device) == "spconv":  # pragma: no cover - needs CUDA
            return x.replace(self._forward_spconv(x))
        return x.replace(submanifold_conv_torch(x.feats, w, b, neighbour_map(x, self.conv.kernel_size)))

    def _forward_spconv(self, x: SparseTensor) -> torch.Tensor:  # pragma: no cover - needs CUDA
        import spconv.pytorch as spconv

        mod = self.__dict__["_spconv_module"]
        if mod is None:
            mod = spconv.SubMConv3d(self.in_channels, self.out_channels, self.conv.kernel_size,
                                    bias=self.conv.bias is not None, indice_key=None)
            self.__dict__["_spconv_module"] = mod
        mod.weight = self.conv.weight
        if self.conv.bias is not None:
            mod.bias = self.conv.bias
        data = x.cache.get("spconv_tensor")
        coords = x.coords.int().contiguous()
        if data is None or data.indices.shape[0] != coords.shape[0]:
            spatial = (coords[:, 1:].max(0).values + 1).tolist()
            data = spconv.SparseConvTensor(x.feats.contiguous(), coords, spatial, x.batch_size)
            x.cache["spconv_tensor"] = data
        out = mod(data.replace_feature(x.feats.contiguous()))
        return out.features
