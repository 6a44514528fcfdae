"""Rectified-flow samplers shared by both stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def flow_time_grid(steps: int, rescale_t: float = 3.0) -> np.ndarray:
    """The rescaled time grid t_0 = 1 > t_1 > ... > t_steps = 0 (float64, steps + 1 values).

    s_i = 1 - i/steps is warped by t = r*s / (1 + (r - 1)*s), which spends more steps near t = 1.
    """
    s = np.linspace(1.0, 0.0, steps + 1)
    return rescale_t * s / (1.0 + (rescale_t - 1.0) * s)


# ----------------------------------------------------------------------------- stage 2 sampler

@dataclass
class FlowSample:
    """Result of a flow sampler run. `trajectory` and `x0_predictions` hold the sample after
    each step and each step's x0 prediction when recorded (else empty)."""

    samples: object
    t_seq: np.ndarray
    guided: list = field(default_factory=list)
    trajectory: list = field(default_factory=list)
    x0_predictions: list = field(default_factory=list)


def flow_euler_guidance_interval(
    model: Callable,
    noise,
    cond,
    neg_cond,
    *,
    steps: int = 25,
    cfg_strength: float = 5.0,
    cfg_interval: tuple[float, float] = (0.5, 1.0),
    rescale_t: float = 3.0,
    sigma_min: float = 1e-5,
    on_step: Callable[[int, int], None] | None = None,
    cancel=None,
    record: bool = False,
) -> FlowSample:
    """Rectified-flow Euler sampler with classifier-free guidance inside a time interval
    (TRELLIS `FlowEulerGuidanceIntervalSampler`).

    For every step (t, t_prev) of `flow_time_grid(steps, rescale_t)`:
    v = (1 + s) v(x, t, cond) - s v(x, t, neg_cond) if lo <= t <= hi else v(x, t, cond),
    x <- x - (t - t_prev) v. The model is called as ``model(x, t_model, c)`` with
    t_model = tensor([1000 t]) (float32) and must return the velocity in x's type.
    `on_step(done, total)` runs after every step; `cancel.raise_if_set()` before every step.
    """
    import torch

    t_seq = flow_time_grid(steps, rescale_t)
    lo, hi = float(cfg_interval[0]), float(cfg_interval[1])
    x = noise
    out = FlowSample(samples=None, t_seq=t_seq)
    for i in range(steps):
        if cancel is not None:
            cancel.raise_if_set()
        t, t_prev = float(t_seq[i]), float(t_seq[i + 1])
        t_model = torch.tensor([1000.0 * t], dtype=torch.float32)
        guided = lo <= t <= hi
        v = model(x, t_model, cond)
        if guided:
            v_neg = model(x, t_model, neg_cond)
            v = (1 + cfg_strength) * v - cfg_strength * v_neg
        if record:
            out.x0_predictions.append((1 - sigma_min) * x - (sigma_min + (1 - sigma_min) * t) * v)
        x = x - (t - t_prev) * v
        out.guided.append(guided)
        if record:
            out.trajectory.append(x)
        if on_step is not None:
            on_step(i + 1, steps)
    out.samples = x
    return out
