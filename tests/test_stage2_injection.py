"""The per-pixel form of the multiview injection equals the reference's per-voxel concat form,
and the voxel -> pixel lookup follows row = 63 - z, column x (views 0, 2) or y (views 1, 3)."""

from __future__ import annotations

import torch

from golden_support import assert_close
from synchuman.models.slat_decoders import (MultiviewSparseTransformerBlock, multiview_pixel_index,
                                            project_view_pixels, sample_multiview)


@torch.no_grad()
def test_injection_equals_concat_form():
    g = torch.Generator().manual_seed(0)
    c, m, n, size = 16, 4, 300, 8
    block = MultiviewSparseTransformerBlock(c, 2, 2.0, m, "full", None, 0)
    for p in block.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    coords = torch.cat([torch.zeros(n, 1, dtype=torch.long), torch.randint(0, size, (n, 3), generator=g)], 1)
    maps_n = torch.randn(1, 4, size, size, 4 * m, generator=g)
    maps_c = torch.randn(1, 4, size, size, 4 * m, generator=g)
    proj = torch.nn.Linear(4 * m, m)
    idx = multiview_pixel_index(coords, size)
    vn, vc = project_view_pixels(proj, maps_n, idx), project_view_pixels(proj, maps_c, idx)
    f = torch.randn(n, c, generator=g)
    ours = block.injection(f, vn, vc)
    ref = block.mv_condition(torch.cat([block.norm3(f), sample_multiview(vn), sample_multiview(vc)], 1))
    assert_close(ours, ref, 1e-5, "injection")


def test_pixel_lookup_convention():
    coords = torch.tensor([[0, 5, 9, 60]])
    idx = multiview_pixel_index(coords, 64)[0].tolist()
    row = 63 - 60
    assert idx == [((0 * 4 + 0) * 64 + row) * 64 + 5, ((0 * 4 + 1) * 64 + row) * 64 + 9,
                   ((0 * 4 + 2) * 64 + row) * 64 + 5, ((0 * 4 + 3) * 64 + row) * 64 + 9]
