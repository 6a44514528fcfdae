"""Analytic tests of the stage-1 pieces: the pixel <-> voxel mapping of the four body views derived
from the cameras (including the mirrored back/left views), the row-wise multiview grouping, the
face -> front blend region, the normal/colour pairing of the joint attention, and which inputs the
sync blocks may depend on."""

import math

import numpy as np
import pytest
import torch

from synchuman.models.mv_unet import MVTransformerBlock, face_blend, rowwise_groups, rowwise_ungroup
from synchuman.models.sync_blocks import (SyncBlockMV, SyncBlockSS, gather_pixels_for_voxels,
                                          gather_voxels_for_pixels, pixel_ray_voxels, voxel_pixel_index)

YAWS = [-math.pi, -3 * math.pi / 2, 0.0, -math.pi / 2]  # views 0..3 (texture-baking yaw list)
MIRRORED = {2, 3}


def _render_pixel(view, p, R):
    """Orthographic render of world point p (unit cube) by view's camera, image [-0.5, 0.5]^2 at R px,
    then the dataset's horizontal mirroring of views 2 and 3. Returns (row, col)."""
    yaw = YAWS[view]
    eye = np.array([math.sin(yaw), math.cos(yaw), 0.0]) * 2
    fwd = -eye / np.linalg.norm(eye)
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(fwd, up)
    u, v = float(p @ right), float(p @ up)
    col = int(math.floor((u + 0.5) * R))
    row = int(math.floor((0.5 - v) * R))
    if view in MIRRORED:
        col = R - 1 - col
    return row, col


@pytest.mark.parametrize("view", [0, 1, 2, 3])
def test_voxel_pixel_index_matches_the_cameras(view):
    R = 16
    row, col = voxel_pixel_index(R, view)
    rng = np.random.default_rng(view)
    for x, y, z in rng.integers(0, R, size=(200, 3)):
        centre = (np.array([x, y, z]) + 0.5) / R - 0.5
        assert (int(row[x, y, z]), int(col[x, y, z])) == _render_pixel(view, centre, R)


@pytest.mark.parametrize("view", [0, 1, 2, 3])
def test_pixel_rays_are_the_inverse_mapping(view):
    S = 12
    x, y, z = pixel_ray_voxels(S, view)
    row, col = voxel_pixel_index(S, view)
    for r in range(S):
        for c in range(S):
            ray = {(int(x[r, c, j]), int(y[r, c, j]), int(z[r, c, j])) for j in range(S)}
            hits = {tuple(v) for v in torch.nonzero((row == r) & (col == c)).tolist()}
            assert ray == hits and len(ray) == S


def test_gathers_follow_the_mapping():
    R = 6
    img = torch.arange(2 * 5 * 1 * R * R, dtype=torch.float32).reshape(2, 5, 1, R, R)
    kv = gather_pixels_for_voxels(img, R)  # (2, R^3, 4, 1), views [0, 2, 1, 3]
    for b, (x, y, z) in [(0, (1, 2, 3)), (1, (5, 0, 4)), (1, (0, 5, 0))]:
        tok = kv[b, (x * R + y) * R + z, :, 0]
        expect = [img[b, 0, 0, R - 1 - z, x], img[b, 2, 0, R - 1 - z, x], img[b, 1, 0, R - 1 - z, y],
                  img[b, 3, 0, R - 1 - z, y]]
        assert tok.tolist() == [float(e) for e in expect]
    grid = torch.arange(2 * R ** 3, dtype=torch.float32).reshape(2, 1, R, R, R)
    rays = gather_voxels_for_pixels(grid)  # (2, 4, R*R, R, 1)
    r, c = 1, 4
    assert rays[1, 0, r * R + c, :, 0].tolist() == grid[1, 0, c, :, R - 1 - r].tolist()
    assert rays[1, 2, r * R + c, :, 0].tolist() == grid[1, 0, c, :, R - 1 - r].tolist()
    assert rays[0, 1, r * R + c, :, 0].tolist() == grid[0, 0, :, c, R - 1 - r].tolist()
    assert rays[0, 3, r * R + c, :, 0].tolist() == grid[0, 0, :, c, R - 1 - r].tolist()


def test_rowwise_grouping():
    b, V, H, W = 2, 4, 3, 5
    x = torch.zeros(b * V, H * W, 3)
    for g in range(b):
        for v in range(V):
            for h in range(H):
                for w in range(W):
                    x[g * V + v, h * W + w] = torch.tensor([g * 100 + v, h, w])
    seq = rowwise_groups(x, V, H)
    assert seq.shape == (b * H, V * W, 3)
    for g in range(b):
        for h in range(H):
            s = seq[g * H + h]
            assert (s[:, 1] == h).all() and (s[:, 0] // 100 == g).all()
            assert s[:, 0].remainder(100).tolist() == [v for v in range(V) for _ in range(W)]
            assert s[:, 2].tolist() == [w for _ in range(V) for w in range(W)]
    assert torch.equal(rowwise_ungroup(seq, V, H), x)


def _block(dim=8, heads=2):
    torch.manual_seed(0)
    blk = MVTransformerBlock(dim, heads, dim // heads, cross_attention_dim=4, num_views=5)
    for p in blk.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return blk.eval()


def test_rowwise_attention_mixes_only_one_row_of_the_body_views():
    blk = _block()
    H = W = 6
    x = torch.randn(10, H * W, 8)  # 2 groups x 5 views
    y0 = blk.rowwise_attention(x, H)
    x2 = x.clone()
    x2[1, 2 * W + 3] += torch.randn(8)  # group 0, view 1 (right), row 2
    changed = (blk.rowwise_attention(x2, H) - y0).abs().sum(-1) > 1e-5  # (10, H*W)
    rows = changed.reshape(10, H, W).any(-1)
    assert rows[[0, 1, 2, 3], 2].all()  # row 2 of every body view of group 0
    rows[[0, 1, 2, 3], 2] = False
    assert not rows.any()  # nothing else: no other rows, not the face view, not group 1
    face = torch.arange(10) % 5 == 4
    assert torch.equal(blk.rowwise_attention(x, H)[face], x[face])


def test_face_blend_region():
    H = 12
    out = torch.zeros(10, H * H, 1)
    out.view(2, 5, H, H, 1)[:, 4] = 1.0  # face view output = 1 everywhere
    out.view(2, 5, H, H, 1)[1, 0] = 2.0  # group 1 front = 2
    res = face_blend(out, 5, H).view(2, 5, H, H)
    region = torch.zeros(H, H, dtype=torch.bool)
    region[:4, 4:8] = True
    assert torch.allclose(res[0, 0][region], torch.full((16,), 0.5))
    assert (res[0, 0][~region] == 0).all()
    assert torch.allclose(res[1, 0][region], torch.full((16,), 1.5)) and (res[1, 0][~region] == 2).all()
    assert torch.equal(res[:, 1:], out.view(2, 5, H, H)[:, 1:])  # other views and the face unchanged
    # the face is bilinearly reduced to H/3 x H/3 (align_corners False)
    ramp = torch.zeros(5, H * H, 1)
    ramp.view(5, H, H)[4] = torch.arange(H, dtype=torch.float32).repeat(H, 1)
    r = face_blend(ramp, 5, H).view(5, H, H)
    assert torch.allclose(r[0, 0, 4:8], 0.5 * torch.tensor([1.0, 4.0, 7.0, 10.0]))


def test_joint_attention_pairs_normal_and_colour_of_the_same_image():
    blk = _block()
    H = 6
    x = torch.randn(20, H * H, 8)  # [normal-u, normal-c, colour-u, colour-c] x 5 views
    y0 = blk.self_attention(x, H)
    x2 = x.clone()
    x2[7] += torch.randn(H * H, 8)  # normal, group cond, view 2 (back)
    changed = ((blk.self_attention(x2, H) - y0).abs().sum((1, 2)) > 1e-5).nonzero().flatten().tolist()
    assert changed == [7, 17]  # the same image of the colour half, nothing else
    x3 = x.clone()
    x3[9] += torch.randn(H * H, 8)  # normal, cond, face view -> blended into the cond front views of both domains
    changed = ((blk.self_attention(x3, H) - y0).abs().sum((1, 2)) > 1e-5).nonzero().flatten().tolist()
    assert changed == [5, 9, 15, 19]


def test_sync_blocks_depend_on_the_right_inputs():
    torch.manual_seed(0)
    R, C, D = 16, 32, 32
    ss = SyncBlockSS(C, D, heads=2, dim_head=16, resolution=R)
    mv = SyncBlockMV(C, D, heads=2, dim_head=16, resolution=R)
    for p in list(ss.parameters()) + list(mv.parameters()):
        torch.nn.init.normal_(p, std=0.2)
    img24 = torch.randn(20, C, 24, 24)
    h = torch.randn(2, R ** 3, D)
    with torch.no_grad():
        a = ss(img24, h)
        img_c = img24.clone()
        img_c[10:] += torch.randn(10, C, 24, 24)  # the colour half does not reach the SS block
        assert torch.equal(ss(img_c, h), a)
        img_u = img24.clone()
        img_u[:5] += torch.randn(5, C, 24, 24)  # the uncond normals reach only the uncond voxel tokens
        b = ss(img_u, h)
        assert not torch.equal(b[0], a[0]) and torch.equal(b[1], a[1])
        img12 = torch.randn(20, C, 12, 12)
        m = mv(img12, h)
        face = torch.arange(20) % 5 == 4
        assert torch.equal(m[face], img12[face])  # no 3D -> face update
        h2 = h.clone()
        h2[1] += torch.randn(R ** 3, D)  # cond voxels reach only the cond images of both domains
        m2 = mv(img12, h2)
        diff = (m2 - m).abs().sum((1, 2, 3)) > 1e-5
        assert diff.nonzero().flatten().tolist() == [5, 6, 7, 8, 15, 16, 17, 18]
