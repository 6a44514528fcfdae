"""Rectified-flow samplers shared by both stages."""

from __future__ import annotations

import numpy as np


def flow_time_grid(steps: int, rescale_t: float = 3.0) -> np.ndarray:
    """The rescaled time grid t_0 = 1 > t_1 > ... > t_steps = 0 (float64, steps + 1 values).

    s_i = 1 - i/steps is warped by t = r*s / (1 + (r - 1)*s), which spends more steps near t = 1.
    """
    s = np.linspace(1.0, 0.0, steps + 1)
    return rescale_t * s / (1.0 + (rescale_t - 1.0) * s)
