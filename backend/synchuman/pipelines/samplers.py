"""Rectified-flow Euler samplers shared by both stages (TRELLIS' sampler family).

`FlowEulerSampler` integrates dx/dt = v from t = 1 (noise) to t = 0 on `flow_time_grid`;
`FlowEulerCfgSampler` adds classifier-free guidance and `FlowEulerGuidanceIntervalSampler` applies
it only for t inside an interval. The model is any callable ``model(x, t, cond) -> v`` with t the
flow time in [0, 1] (each stage wraps its network's own time convention); a state may be a
tensor, a `SparseTensor` or a tuple of them (stage 1 integrates its 2D and 3D latents together).
Before the first step and after every step the sampler calls ``callback(done, steps)``: one
callable that reports progress and raises `Cancelled` when the job is cancelled
(`common.step_callback`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..common import StepCallback


def flow_time_grid(steps: int, rescale_t: float = 3.0) -> np.ndarray:
    """The rescaled time grid t_0 = 1 > t_1 > ... > t_steps = 0 (float64, steps + 1 values).

    s_i = 1 - i/steps is warped by t = r*s / (1 + (r - 1)*s), which spends more steps near t = 1.
    This is the time shift of diffusers' FlowMatchEulerDiscreteScheduler(shift=r). We do not use
    that class: it keeps its sigmas in float32 and ends its grid at 1/num_train_timesteps before the
    final 0, while the reference samples on this float64 grid (the golden trajectories are compared
    at 1e-12); tests/test_stage2_sampler_unit.py checks that both grids agree to float32 precision.
    """
    s = np.linspace(1.0, 0.0, steps + 1)
    return rescale_t * s / (1.0 + (rescale_t - 1.0) * s)


def _map(fn, *states):
    """fn applied to a state, or to each part of a tuple state."""
    if isinstance(states[0], tuple):
        return tuple(fn(*parts) for parts in zip(*states))
    return fn(*states)


@dataclass
class FlowSample:
    """Result of a sampler run. `trajectory` and `x0_predictions` hold the state after each step and
    each step's x0 prediction when recorded (else empty); `guided` says which steps were guided."""

    samples: object
    t_seq: np.ndarray
    guided: list = field(default_factory=list)
    trajectory: list = field(default_factory=list)
    x0_predictions: list = field(default_factory=list)


class FlowEulerSampler:
    """Euler steps x <- x - (t - t_prev) v(x, t) over `flow_time_grid(steps, rescale_t)`."""

    def __init__(self, sigma_min: float = 1e-5):
        self.sigma_min = float(sigma_min)

    def is_guided(self, t: float) -> bool:
        return False

    def velocity(self, model, x, t: float, cond, neg_cond=None):
        return model(x, t, cond)

    def x0_prediction(self, x, t: float, v):
        """The clean sample the velocity points to (for recording), as TRELLIS' _v_to_xstart_eps."""
        s = self.sigma_min
        return _map(lambda xi, vi: (1 - s) * xi - (s + (1 - s) * t) * vi, x, v)

    def sample(self, model, noise, cond, neg_cond=None, *, steps: int, rescale_t: float = 3.0,
               callback: StepCallback | None = None, record: bool = False) -> FlowSample:
        t_seq = flow_time_grid(steps, rescale_t)
        out = FlowSample(samples=None, t_seq=t_seq)
        x = noise
        if callback is not None:
            callback(0, steps)  # a cancelled job stops before the first step
        for i in range(steps):
            t, t_prev = float(t_seq[i]), float(t_seq[i + 1])
            v = self.velocity(model, x, t, cond, neg_cond)
            if record:
                out.x0_predictions.append(self.x0_prediction(x, t, v))
            x = _map(lambda xi, vi: xi - (t - t_prev) * vi, x, v)
            out.guided.append(self.is_guided(t))
            if record:
                out.trajectory.append(x)
            if callback is not None:
                callback(i + 1, steps)
        out.samples = x
        return out


class FlowEulerCfgSampler(FlowEulerSampler):
    """Classifier-free guidance: v = (1 + s) v(x, t, cond) - s v(x, t, neg_cond), s = cfg_strength
    (TRELLIS' convention; a diffusers guidance scale w is s = w - 1)."""

    def __init__(self, cfg_strength: float, sigma_min: float = 1e-5):
        super().__init__(sigma_min)
        self.cfg_strength = float(cfg_strength)

    def is_guided(self, t: float) -> bool:
        return self.cfg_strength != 0.0

    def cond_and_uncond(self, model, x, t: float, cond, neg_cond):
        """(v_cond, v_uncond); a subclass may compute both in one batched call."""
        return model(x, t, cond), model(x, t, neg_cond)

    def velocity(self, model, x, t: float, cond, neg_cond=None):
        if not self.is_guided(t):
            return model(x, t, cond)
        v, v_neg = self.cond_and_uncond(model, x, t, cond, neg_cond)
        s = self.cfg_strength
        return _map(lambda a, b: (1 + s) * a - s * b, v, v_neg)


class FlowEulerGuidanceIntervalSampler(FlowEulerCfgSampler):
    """Guidance only for lo <= t <= hi (TRELLIS `FlowEulerGuidanceIntervalSampler`)."""

    def __init__(self, cfg_strength: float, cfg_interval: tuple[float, float] = (0.0, 1.0), sigma_min: float = 1e-5):
        super().__init__(cfg_strength, sigma_min)
        self.interval = (float(cfg_interval[0]), float(cfg_interval[1]))

    def is_guided(self, t: float) -> bool:
        return self.cfg_strength != 0.0 and self.interval[0] <= t <= self.interval[1]
