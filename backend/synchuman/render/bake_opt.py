"""The reference's optimisation bake ('opt'): fit the texture to the views with L1 + total variation under Adam.

Differences from the reference, on purpose: it starts from the closed-form bake instead of zeros (so a few hundred
steps suffice instead of 1000), uses only the generated views (no Gaussian renders), samples bilinearly (a view
pixel covers about one texel at these sizes, so the mip levels nvdiffrast would add matter little), and draws views
from a seeded generator so a run is repeatable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .cameras import orthographic_clip
from .raster import interpolate, one_torch_thread, rasterize


def _view_targets(vertices, faces, uv, view) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(grid (1,1,N,2) for grid_sample, colours (N,3)) of the pixels where the mesh and the view's mask agree."""
    height, width = view.mask.shape
    raster = rasterize(orthographic_clip(vertices, view.view), faces, (height, width), backend="cpu")
    pixel_uv = interpolate(torch.as_tensor(uv, dtype=torch.float32), raster, faces)[0]
    usable = raster.mask[0] & torch.as_tensor(view.mask)
    if not usable.any():
        return None
    coords = pixel_uv[usable]
    grid = torch.stack([2 * coords[:, 0] - 1, 1 - 2 * coords[:, 1]], 1)      # texture row 0 is v = 1
    colours = torch.as_tensor(np.asarray(view.image, dtype=np.float32))[usable]
    return grid[None, None], colours


def _total_variation(texture: torch.Tensor) -> torch.Tensor:
    return ((texture[:, :, 1:, :] - texture[:, :, :-1, :]).abs().mean()
            + (texture[:, :, :, 1:] - texture[:, :, :, :-1]).abs().mean())


def optimise_texture(vertices, faces, uv, views, texture: np.ndarray, options, seed: int = 0) -> np.ndarray:
    """Texture (T,T,3) float in [0,1] after `options.opt_steps` Adam steps of L1 + lambda_tv * TV."""
    targets = [t for t in (_view_targets(vertices, faces, uv, view) for view in views) if t is not None]
    if not targets or options.opt_steps <= 0:
        return texture
    param = torch.nn.Parameter(torch.as_tensor(np.ascontiguousarray(texture.transpose(2, 0, 1)),
                                               dtype=torch.float32)[None])
    optimiser = torch.optim.Adam([param], lr=options.opt_lr, betas=(0.5, 0.9))
    rng = np.random.default_rng(seed)
    with one_torch_thread():
        _run_adam(param, optimiser, targets, rng, options)
    return param.detach()[0].numpy().transpose(1, 2, 0).astype(np.float64)


def _run_adam(param, optimiser, targets, rng, options) -> None:
    final_lr = options.opt_lr * 3e-3
    for step in range(options.opt_steps):
        grid, colours = targets[rng.integers(len(targets))]
        rendered = F.grid_sample(param, grid, mode="bilinear", padding_mode="border", align_corners=False)
        loss = (rendered[0, :, 0].T - colours).abs().mean() + options.lambda_tv * _total_variation(param)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            param.clamp_(0.0, 1.0)
        cosine = 0.5 * (1 + math.cos(math.pi * (step + 1) / options.opt_steps))
        optimiser.param_groups[0]["lr"] = final_lr + (options.opt_lr - final_lr) * cosine
