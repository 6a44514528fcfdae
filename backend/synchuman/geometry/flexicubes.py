"""FlexiCubes mesh extraction (inference), sparse: only the cubes the occupied region touches.

The mesh decoder emits, at each occupied cube of a res^3 grid (res = 256), 101 channels:
[0, 8) corner SDFs, [8, 32) corner deformations (8 x 3), [32, 53) FlexiCubes weights
(12 beta per edge, 8 alpha per corner, 1 gamma), [53, 101) corner attributes (8 x 6;
colour and normal, unused downstream). Corners follow `flexicubes_tables.CORNERS`.

The reference scatters these into dense grids ((res+1)^3 vertices with SDF 1 where no cube
provides a value, res^3 cubes with zero weights) and runs FlexiCubes over every cube. Only
cubes with a corner that some occupied cube provides can change sign, so this module works
on exactly those cubes and vertices (addressed by their dense linear ids, in the same order
as the dense code), which gives the same mesh without any res^3 table. Memory and time grow
with the number of occupied cubes only (about 0.5 GB and a few seconds for 640k cubes):

1. Corner values are averaged over all occupied cubes sharing the vertex; SDF += -1/res.
2. Vertex position = v/res - 0.5 + (1 - 1e-8)/(2 res) * tanh(deform)  (z-up unit cube).
3. Surface cubes: corners of mixed sign (SDF < 0 is inside); case id = inside-corner mask,
   ambiguous C16/C19 pairs across a shared face are inverted together.
4. beta, alpha = 1 + 0.99 tanh(w), gamma = 0.005 + 0.99 sigmoid(w). Each edge group of a
   cube gives one dual vertex: the beta-weighted mean of its edges' crossing points, each
   found by linear interpolation of alpha-weighted SDFs. Attributes (sigmoid of the corner
   attributes) are interpolated the same way.
5. Every surface edge shared by 4 surface cubes yields a quad of their dual vertices,
   oriented towards positive SDF, split into two triangles along the diagonal with the
   larger gamma product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .flexicubes_tables import CORNERS, CUBE_EDGES, tables

WEIGHT_SCALE = 0.99
NUM_CHANNELS_NO_COLOR = 53
NUM_CHANNELS_COLOR = 101


@dataclass
class FlexiCubesMesh:
    """vertices (V, 3) float32 in the z-up unit cube [-0.5, 0.5]^3; faces (F, 3) int64 (winding
    oriented towards positive SDF = outside); vertex_attrs (V, 6) in [0, 1] or None."""

    vertices: torch.Tensor
    faces: torch.Tensor
    vertex_attrs: torch.Tensor | None = None

    @property
    def success(self) -> bool:
        return self.vertices.shape[0] > 0 and self.faces.shape[0] > 0


class _Tables:
    def __init__(self, device):
        dmc, num_vd, check = tables()
        self.dmc = torch.tensor(dmc, dtype=torch.long, device=device)
        self.num_vd = torch.tensor(num_vd, dtype=torch.long, device=device)
        self.check = torch.tensor(check, dtype=torch.long, device=device)
        self.corners = torch.tensor(CORNERS, dtype=torch.long, device=device)
        self.edges = torch.tensor(CUBE_EDGES, dtype=torch.long, device=device)  # (12, 2)


_TABLE_CACHE: dict = {}


def _tables(device) -> _Tables:
    key = str(device)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = _Tables(device)
    return _TABLE_CACHE[key]


def _lookup(sorted_keys: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index into sorted_keys, found mask) for each query key."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(query), torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
    return pos, sorted_keys[pos] == query


def split_features(feats: torch.Tensor) -> dict:
    """Channel layout of the mesh decoder output (see module docstring)."""
    out = {
        "sdf": feats[:, 0:8],
        "deform": feats[:, 8:32].reshape(-1, 8, 3),
        "weights": feats[:, 32:53],
    }
    out["color"] = feats[:, 53:101].reshape(-1, 8, 6) if feats.shape[1] >= NUM_CHANNELS_COLOR else None
    return out


def extract_mesh(cube_coords: torch.Tensor, feats: torch.Tensor, res: int = 256,
                 sdf_bias: float | None = None) -> FlexiCubesMesh:
    """Mesh from per-cube decoder features. cube_coords (N, 3) ints in [0, res); feats (N, 53 or 101).

    `sdf_bias` defaults to -1/res (the released decoder's setting)."""
    device = feats.device
    T = _tables(device)
    feats = feats.float()
    coords = cube_coords.long()
    if coords.shape[0] == 0:
        return _empty(device, feats.shape[1] >= NUM_CHANNELS_COLOR)
    parts = split_features(feats)
    sdf = parts["sdf"] + (-1.0 / res if sdf_bias is None else sdf_bias)
    attrs = [sdf.unsqueeze(-1), parts["deform"]]
    if parts["color"] is not None:
        attrs.append(parts["color"])
    corner_attrs = torch.cat(attrs, -1)  # (N, 8, A)
    A = corner_attrs.shape[-1]
    rv = res + 1

    # --- 1. unique grid vertices of the occupied cubes, attributes averaged over sharing cubes
    corner_xyz = coords.unsqueeze(1) + T.corners.unsqueeze(0)  # (N, 8, 3)
    corner_id = (corner_xyz[..., 0] * rv + corner_xyz[..., 1]) * rv + corner_xyz[..., 2]
    vert_id, inv = torch.unique(corner_id.reshape(-1), sorted=True, return_inverse=True)
    nv = vert_id.numel()
    vsum = torch.zeros(nv, A, device=device).index_add_(0, inv, corner_attrs.reshape(-1, A))
    vcnt = torch.bincount(inv, minlength=nv).to(vsum.dtype)
    vattr = vsum / vcnt.unsqueeze(1)
    del vsum, corner_attrs
    vxyz = torch.stack([vert_id // (rv * rv), (vert_id // rv) % rv, vert_id % rv], 1)
    vpos = vxyz.float() / res - 0.5 + (1 - 1e-8) / (res * 2) * torch.tanh(vattr[:, 1:4])
    vsdf = vattr[:, 0]
    vcolor = torch.sigmoid(vattr[:, 4:]) if A > 4 else None

    # --- 2. candidate cubes: a surface cube needs an inside corner, and only provided vertices
    #        can be inside (absent ones are SDF = 1), so only cubes around inside vertices matter
    neg = vsdf < 0
    if not bool(neg.any()):
        return _empty(device, vcolor is not None)
    cand = (vxyz[neg].unsqueeze(1) - T.corners.unsqueeze(0)).reshape(-1, 3)
    inside_grid = ((cand >= 0) & (cand < res)).all(1)
    cand = cand[inside_grid]
    cube_id = torch.unique((cand[:, 0] * res + cand[:, 1]) * res + cand[:, 2], sorted=True)
    del cand
    cxyz = torch.stack([cube_id // (res * res), (cube_id // res) % res, cube_id % res], 1)
    ccorner = ((cxyz.unsqueeze(1) + T.corners.unsqueeze(0)) * torch.tensor([rv * rv, rv, 1], device=device)).sum(-1)
    cpos, cfound = _lookup(vert_id, ccorner.reshape(-1))
    corner_sdf = torch.where(cfound, vsdf[cpos], torch.ones((), device=device)).reshape(-1, 8)
    occ = corner_sdf < 0
    nocc = occ.sum(1)
    surf = (nocc > 0) & (nocc < 8)
    if not bool(surf.any()):
        return _empty(device, vcolor is not None)
    cube_id, cxyz, occ = cube_id[surf], cxyz[surf], occ[surf]
    ns = cube_id.numel()

    # per-surface-cube weights: the decoder's where the cube is occupied, zero elsewhere
    occ_id = (coords[:, 0] * res + coords[:, 1]) * res + coords[:, 2]
    occ_sorted, occ_order = torch.sort(occ_id)
    wpos, wfound = _lookup(occ_sorted, cube_id)
    w = torch.zeros(ns, 21, device=device)
    w[wfound] = parts["weights"][occ_order[wpos[wfound]]]
    beta = torch.tanh(w[:, :12]) * WEIGHT_SCALE + 1
    alpha = torch.tanh(w[:, 12:20]) * WEIGHT_SCALE + 1
    gamma = torch.sigmoid(w[:, 20]) * WEIGHT_SCALE + (1 - WEIGHT_SCALE) / 2

    # --- 3. case ids with the C16/C19 fix across shared ambiguous faces
    case = (occ.long() << torch.arange(8, device=device)).sum(1)
    chk = T.check[case]
    to_check = chk[:, 0] == 1
    if bool(to_check.any()):
        prob_idx = torch.nonzero(to_check).flatten()
        prob_ids = cube_id[prob_idx]  # sorted, as cube_id is
        adj = cxyz[prob_idx] + chk[prob_idx, 1:4]
        in_range = ((adj >= 0) & (adj < res)).all(1)
        adj_id = (adj[:, 0] * res + adj[:, 1]) * res + adj[:, 2]
        _, adj_is_problem = _lookup(prob_ids, adj_id)
        invert = in_range & adj_is_problem
        case = case.clone()
        case[prob_idx[invert]] = chk[prob_idx[invert], 4]

    # --- 4. surface edges (unique over surface cubes, ordered by (first, second) vertex id)
    cube_vid = ((cxyz.unsqueeze(1) + T.corners.unsqueeze(0)) * torch.tensor([rv * rv, rv, 1], device=device)).sum(-1)
    ends = cube_vid[:, T.edges]  # (ns, 12, 2) dense vertex ids
    pair_key = ends[..., 0] * (rv ** 3) + ends[..., 1]
    uniq_key, edge_inv, edge_cnt = torch.unique(pair_key.reshape(-1), sorted=True, return_inverse=True,
                                                return_counts=True)
    ue_a, ue_b = uniq_key // (rv ** 3), uniq_key % (rv ** 3)

    def sdf_of(ids):
        p, f = _lookup(vert_id, ids)
        return torch.where(f, vsdf[p], torch.ones((), device=device)), p, f

    sa, pa, fa = sdf_of(ue_a)
    sb, pb, fb = sdf_of(ue_b)
    crossing = (sa < 0) != (sb < 0)
    mapping = torch.full((uniq_key.numel(),), -1, dtype=torch.long, device=device)
    mapping[crossing] = torch.arange(int(crossing.sum()), device=device)
    idx_map = mapping[edge_inv].reshape(ns, 12)  # surface-edge index per cube edge, or -1
    cube_edge_crossing = crossing[edge_inv].reshape(ns, 12)
    cube_edge_count = edge_cnt[edge_inv].reshape(ns, 12)
    # endpoints of the surface edges (every crossing edge has at least one provided endpoint)
    s_edge = torch.stack([sa[crossing], sb[crossing]], 1)  # (E, 2)

    def vertex_pos(ids, p, f):
        xyz = torch.stack([ids // (rv * rv), (ids // rv) % rv, ids % rv], 1).float() / res - 0.5
        return torch.where(f.unsqueeze(1), vpos[p], xyz)

    x_edge = torch.stack([vertex_pos(ue_a[crossing], pa[crossing], fa[crossing]),
                          vertex_pos(ue_b[crossing], pb[crossing], fb[crossing])], 1)  # (E, 2, 3)
    if vcolor is not None:
        half = torch.full((vcolor.shape[1],), 0.5, device=device)  # sigmoid(0) at absent vertices
        ca = torch.where(fa[crossing].unsqueeze(1), vcolor[pa[crossing]], half)
        cb = torch.where(fb[crossing].unsqueeze(1), vcolor[pb[crossing]], half)
        c_edge = torch.stack([ca, cb], 1)

    # --- 5. dual vertices, grouped by how many each cube emits (the reference's order)
    num_vd = T.num_vd[case]
    groups_edge, groups_vd, groups_cube, vd_gamma = [], [], [], []
    total = 0
    cube_rows = torch.arange(ns, device=device)
    for num in torch.unique(num_vd).tolist():
        if num == 0:
            continue
        sel = num_vd == num
        eg = T.dmc[case[sel], :num].reshape(-1, num * 7)  # (n_sel, num*7)
        nsel = eg.shape[0]
        vd_of = (torch.arange(nsel * num, device=device).reshape(nsel, num, 1)
                 .expand(nsel, num, 7).reshape(nsel, num * 7) + total)
        cube_of = cube_rows[sel].unsqueeze(1).expand(nsel, num * 7)
        m = eg != -1
        groups_edge.append(eg[m])
        groups_vd.append(vd_of[m])
        groups_cube.append(cube_of[m])
        vd_gamma.append(gamma[sel].unsqueeze(1).expand(nsel, num).reshape(-1))
        total += nsel * num
    g_edge = torch.cat(groups_edge)
    g_vd = torch.cat(groups_vd)
    g_cube = torch.cat(groups_cube)
    vd_gamma = torch.cat(vd_gamma)
    flat = g_cube * 12 + g_edge
    g_surf = idx_map.reshape(-1)[flat]
    g_alpha = alpha[:, T.edges].reshape(-1, 2)[flat]  # (G, 2) alpha at the edge's two corners
    g_beta = beta.reshape(-1)[flat].unsqueeze(1)
    ws = s_edge[g_surf] * g_alpha  # (G, 2)
    # crossing of the alpha-weighted SDF: (x0 * w1 - x1 * w0) / (w1 - w0)
    wt = torch.stack([ws[:, 1], -ws[:, 0]], 1).unsqueeze(-1)  # (G, 2, 1)
    denom = wt.sum(1)
    ue = (x_edge[g_surf] * wt).sum(1) / denom
    beta_sum = torch.zeros(total, 1, device=device).index_add_(0, g_vd, g_beta)
    vd = torch.zeros(total, 3, device=device).index_add_(0, g_vd, ue * g_beta) / beta_sum
    vd_color = None
    if vcolor is not None:
        uc = (c_edge[g_surf] * wt).sum(1) / denom
        vd_color = torch.zeros(total, uc.shape[1], device=device).index_add_(0, g_vd, uc * g_beta) / beta_sum
    vd_idx_map = torch.zeros(ns * 12, dtype=torch.long, device=device)
    vd_idx_map[flat] = g_vd

    # --- 6. quads around surface edges shared by 4 surface cubes, then triangles
    quad_mask = ((cube_edge_count == 4) & cube_edge_crossing).reshape(-1)
    group = idx_map.reshape(-1)[quad_mask]
    vd_idx = vd_idx_map[quad_mask]
    edge_sorted, order = torch.sort(group, stable=True)
    quad = vd_idx[order].reshape(-1, 4)
    first_sdf = s_edge[edge_sorted.reshape(-1, 4)[:, 0], 0]
    flip = first_sdf > 0
    quad = torch.cat([quad[flip][:, [0, 1, 3, 2]], quad[~flip][:, [2, 3, 1, 0]]])
    qg = vd_gamma[quad]
    split_02 = qg[:, 0] * qg[:, 2] > qg[:, 1] * qg[:, 3]
    faces = torch.where(split_02.unsqueeze(1), quad[:, [0, 1, 2, 0, 2, 3]], quad[:, [0, 1, 3, 3, 1, 2]])
    faces = faces.reshape(-1, 3)
    return FlexiCubesMesh(vd, faces, vd_color)


def _empty(device, with_color: bool) -> FlexiCubesMesh:
    return FlexiCubesMesh(torch.zeros(0, 3, device=device), torch.zeros(0, 3, dtype=torch.long, device=device),
                          torch.zeros(0, 6, device=device) if with_color else None)
