"""FlexiCubes (sparse, CPU): the golden mesh of case d from the stored raw decoder output,
the derived lookup tables, and analytic spheres (closed, outward, right radius and volume)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from golden_support import golden_cases, load_case
from synchuman.geometry.flexicubes import extract_mesh
from synchuman.geometry.flexicubes_tables import tables


def canonical(vertices, faces, attrs=None):
    """Vertices sorted by coordinate, faces re-indexed, rotated to start at their smallest
    index (winding kept) and sorted: equal meshes give equal arrays whatever their order."""
    v = vertices.double().numpy()
    order = np.lexsort(v.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    f = rank[faces.numpy()]
    shift = f.argmin(1)
    f = np.stack([np.roll(row, -k) for row, k in zip(f, shift)]) if f.size else f.reshape(0, 3)
    f = f[np.lexsort(f.T[::-1])] if f.size else f
    return v[order], f, (None if attrs is None else attrs.double().numpy()[order])


@pytest.mark.parametrize("root", golden_cases("d_decoders.safetensors"))
def test_golden_mesh_from_stored_raw_features(root):
    t, meta = load_case(root, "d_decoders.safetensors")
    res = int(meta.get("flexicubes_res", 256))
    mesh = extract_mesh(t["mesh_out_coords"][:, 1:], t["mesh_out_raw"], res)
    assert mesh.success == bool(meta.get("mesh_success", True))
    assert mesh.vertices.shape == t["mesh_vertices"].shape
    assert mesh.faces.shape == t["mesh_faces"].shape
    va, fa, aa = canonical(mesh.vertices, mesh.faces, mesh.vertex_attrs)
    vb, fb, ab = canonical(t["mesh_vertices"], t["mesh_faces"], t["mesh_vertex_attrs"])
    np.testing.assert_allclose(va, vb, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(fa, fb)
    np.testing.assert_allclose(aa, ab, atol=1e-5, rtol=0)


def test_tables_shape_and_symmetry():
    dmc, num_vd, check = tables()
    assert len(dmc) == 256 and len(num_vd) == 256 and len(check) == 256
    assert num_vd[0] == 0 and num_vd[255] == 0
    assert max(num_vd) == 4 and sum(r[0] for r in check) == 36
    for case in range(256):
        used = sorted(e for g in dmc[case][:num_vd[case]] for e in g if e >= 0)
        # every edge with a sign change appears in exactly one group
        from synchuman.geometry.flexicubes_tables import CUBE_EDGES
        crossing = [e for e, (a, b) in enumerate(CUBE_EDGES) if (case >> a & 1) != (case >> b & 1)]
        assert used == crossing
        if check[case][0]:
            assert check[check[case][4]][0] == 0 and check[case][4] == 255 - case


def sphere_features(res, radius, center=(0.0, 0.0, 0.0)):
    """Decoder-like features of a sphere SDF on every cube whose centre is inside radius + 2 cells."""
    idx = torch.arange(res)
    g = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), -1).reshape(-1, 3)
    c = torch.tensor(center)
    centre_pos = (g.double() + 0.5) / res - 0.5
    keep = (centre_pos - c.double()).norm(dim=1) < radius + 2.0 / res
    cubes = g[keep]
    corners = torch.tensor([(i & 1, (i >> 1) & 1, (i >> 2) & 1) for i in range(8)])
    cpos = (cubes.unsqueeze(1) + corners).double() / res - 0.5
    sdf = ((cpos - c.double()).norm(dim=-1) - radius).float() * res  # in cells; sign is what matters
    feats = torch.zeros(cubes.shape[0], 101)
    feats[:, :8] = sdf
    return cubes, feats


def check_closed_and_oriented(faces):
    f = faces.numpy()
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    # closed 2-manifold with consistent winding: every directed edge once, its reverse once
    keys = directed[:, 0].astype(np.int64) * (f.max() + 1) + directed[:, 1]
    rev = directed[:, 1].astype(np.int64) * (f.max() + 1) + directed[:, 0]
    assert np.unique(keys).size == keys.size, "a directed edge is used twice (non-manifold or flipped)"
    assert np.array_equal(np.sort(keys), np.sort(rev)), "open boundary edges"


@pytest.mark.parametrize("res,radius,center", [(32, 0.3, (0.0, 0.0, 0.0)), (64, 0.21, (0.05, -0.1, 0.12))])
def test_sphere_sdf_gives_closed_mesh_of_right_radius(res, radius, center):
    cubes, feats = sphere_features(res, radius, center)
    mesh = extract_mesh(cubes, feats, res, sdf_bias=0.0)
    assert mesh.success
    check_closed_and_oriented(mesh.faces)
    v = mesh.vertices.double()
    r = (v - torch.tensor(center, dtype=torch.float64)).norm(dim=1)
    assert abs(float(r.mean()) - radius) < 0.25 / res
    assert float((r - radius).abs().max()) < 0.75 / res
    # Euler characteristic of a sphere, and outward orientation: the signed volume is positive
    nv, nf = v.shape[0], mesh.faces.shape[0]
    ne = nf * 3 // 2
    assert nv - ne + nf == 2
    tri = v[mesh.faces]
    vol = float(torch.einsum("ij,ij->i", tri[:, 0], torch.cross(tri[:, 1], tri[:, 2], dim=1)).sum() / 6)
    assert abs(vol - 4 / 3 * math.pi * radius ** 3) < 0.03 * 4 / 3 * math.pi * radius ** 3
    assert mesh.vertex_attrs.shape == (nv, 6)
    assert torch.allclose(mesh.vertex_attrs, torch.full_like(mesh.vertex_attrs, 0.5))  # sigmoid(0)


def test_empty_and_all_inside_give_no_mesh():
    cubes = torch.tensor([[3, 3, 3]])
    mesh = extract_mesh(cubes, torch.zeros(1, 101) + 5.0, 8, sdf_bias=0.0)
    assert not mesh.success and mesh.vertices.shape == (0, 3)
    mesh = extract_mesh(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 101), 8)
    assert not mesh.success
