"""3D Gaussians decoded from the structured latent (TRELLIS `Gaussian`, SH degree 0).

Stored ("raw") tensors follow the reference representation, activated properties are what
a renderer or the post-processing consumes:

| property      | shape   | meaning                                                                  |
|---------------|---------|--------------------------------------------------------------------------|
| `positions`   | (P, 3)  | centres in the z-up unit cube [-0.5, 0.5]^3 (= raw xyz - 0.5)            |
| `scales`      | (P, 3)  | std-devs along the local axes, sqrt(softplus(s + b)^2 + 9e-4^2), world units |
| `rotations`   | (P, 4)  | unit quaternions (w, x, y, z)                                            |
| `opacities`   | (P, 1)  | in (0, 1), sigmoid(o + logit(0.1))                                       |
| `colors`      | (P, 3)  | RGB in [0, 1] from the SH-0 coefficient: clamp(0.2820948 * f + 0.5)      |
| `features_dc` | (P,1,3) | the SH-0 coefficient itself                                              |

Rows are voxel-major: the 32 Gaussians of voxel i are rows 32 i .. 32 i + 31.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

SH_C0 = 0.28209479177387814


@dataclass
class GaussianConfig:
    """The decoder's ``representation_config``."""

    num_gaussians: int = 32
    voxel_size: float = 1.5
    perturb_offset: bool = True
    filter_kernel_3d: float = 9e-4
    filter_kernel_2d: float = 0.1
    scaling_bias: float = 4e-3
    opacity_bias: float = 0.1
    scaling_activation: str = "softplus"
    lr: dict = field(default_factory=lambda: {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0,
                                              "_scaling": 1.0, "_rotation": 0.1})

    @classmethod
    def from_dict(cls, d: dict) -> "GaussianConfig":
        return cls(num_gaussians=int(d.get("num_gaussians", 32)), voxel_size=float(d.get("voxel_size", 1.5)),
                   perturb_offset=bool(d.get("perturb_offset", True)),
                   filter_kernel_3d=float(d.get("3d_filter_kernel_size", 9e-4)),
                   filter_kernel_2d=float(d.get("2d_filter_kernel_size", 0.1)),
                   scaling_bias=float(d.get("scaling_bias", 4e-3)), opacity_bias=float(d.get("opacity_bias", 0.1)),
                   scaling_activation=str(d.get("scaling_activation", "softplus")),
                   lr=dict(d.get("lr", {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0,
                                        "_rotation": 0.1})))

    def layout(self) -> dict[str, tuple[int, int, tuple[int, ...]]]:
        """name -> (start channel, end channel, per-Gaussian shape), attribute-major."""
        g = self.num_gaussians
        shapes = {"_xyz": (3,), "_features_dc": (1, 3), "_scaling": (3,), "_rotation": (4,), "_opacity": (1,)}
        out, start = {}, 0
        for name, shp in shapes.items():
            size = g * math.prod(shp)
            out[name] = (start, start + size, shp)
            start += size
        return out

    @property
    def out_channels(self) -> int:
        return max(e for _, e, _ in self.layout().values())


def radical_inverse(base: int, n: int) -> float:
    val, inv, f = 0.0, 1.0 / base, 1.0 / base
    while n > 0:
        val += (n % base) * f
        n //= base
        f *= inv
    return val


def offset_perturbation(config: GaussianConfig) -> torch.Tensor:
    """(G, 3) fixed per-Gaussian offsets: atanh((2 h - 1) / voxel_size) of the 3-D Hammersley
    points h_i = (i / G, radical_inverse_2(i), radical_inverse_3(i))."""
    g = config.num_gaussians
    pts = torch.tensor([[i / g, radical_inverse(2, i), radical_inverse(3, i)] for i in range(g)],
                       dtype=torch.float32, device="cpu")
    return torch.atanh((pts * 2 - 1) / config.voxel_size)


def _inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


class Gaussians:
    """Decoded Gaussians of one batch item (see the module docstring for the fields)."""

    def __init__(self, xyz: torch.Tensor, features_dc: torch.Tensor, scaling: torch.Tensor,
                 rotation: torch.Tensor, opacity: torch.Tensor, config: GaussianConfig):
        self.xyz = xyz                  # raw: normalised [0, 1] cube coordinates
        self.features_dc = features_dc  # (P, 1, 3)
        self.scaling = scaling          # raw
        self.rotation = rotation        # raw (already multiplied by its lr, 0.1)
        self.opacity = opacity          # raw
        self.config = config

    def __len__(self) -> int:
        return self.xyz.shape[0]

    @property
    def positions(self) -> torch.Tensor:
        return self.xyz - 0.5

    @property
    def scales(self) -> torch.Tensor:
        bias = torch.tensor(self.config.scaling_bias, dtype=torch.float32)
        if self.config.scaling_activation == "softplus":
            s = F.softplus(self.scaling + _inverse_softplus(bias).to(self.scaling))
        elif self.config.scaling_activation == "exp":
            s = torch.exp(self.scaling + torch.log(bias).to(self.scaling))
        else:
            raise ValueError(f"unknown scaling activation {self.config.scaling_activation!r}")
        return torch.sqrt(s.square() + self.config.filter_kernel_3d ** 2)

    @property
    def rotations(self) -> torch.Tensor:
        q0 = torch.zeros(4, dtype=self.rotation.dtype, device=self.rotation.device)
        q0[0] = 1
        return F.normalize(self.rotation + q0, dim=-1)

    @property
    def opacities(self) -> torch.Tensor:
        b = torch.tensor(self.config.opacity_bias, dtype=torch.float32)
        return torch.sigmoid(self.opacity + torch.log(b / (1 - b)).to(self.opacity))

    @property
    def colors(self) -> torch.Tensor:
        return (self.features_dc[:, 0, :] * SH_C0 + 0.5).clamp(0.0, 1.0)

    def to(self, device=None, dtype=None) -> "Gaussians":
        m = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        return Gaussians(m(self.xyz), m(self.features_dc), m(self.scaling), m(self.rotation), m(self.opacity),
                         self.config)


def gaussians_from_features(feats: torch.Tensor, coords_xyz: torch.Tensor, resolution: int,
                            config: GaussianConfig, perturbation: torch.Tensor | None = None) -> Gaussians:
    """feats (N, out_channels) decoder output rows, coords_xyz (N, 3) voxel indices of one item."""
    lay = config.layout()
    g = config.num_gaussians
    n = feats.shape[0]
    feats = feats.float()

    def part(name):
        s, e, shp = lay[name]
        return feats[:, s:e].reshape(n, g, *shp)

    centre = (coords_xyz.float() + 0.5) / resolution
    off = part("_xyz") * config.lr["_xyz"]
    if config.perturb_offset:
        pert = offset_perturbation(config) if perturbation is None else perturbation
        off = off + pert.to(off)
    off = torch.tanh(off) / resolution * 0.5 * config.voxel_size
    xyz = (centre.unsqueeze(1) + off).reshape(n * g, 3)
    return Gaussians(
        xyz,
        (part("_features_dc") * config.lr["_features_dc"]).reshape(n * g, 1, 3),
        (part("_scaling") * config.lr["_scaling"]).reshape(n * g, 3),
        (part("_rotation") * config.lr["_rotation"]).reshape(n * g, 4),
        (part("_opacity") * config.lr["_opacity"]).reshape(n * g, 1),
        config,
    )
