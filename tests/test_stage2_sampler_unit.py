"""The guidance-interval Euler sampler on a closed-form velocity field (no network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synchuman.errors import Cancelled
from synchuman.jobs import CancelToken
from synchuman.pipelines.samplers import flow_euler_guidance_interval, flow_time_grid


def test_time_grid_keeps_reference_values():
    t = flow_time_grid(8, 3.0)
    np.testing.assert_allclose(t, [1, .9545454545, .9, .8333333333, .75, .6428571429, .5, .3, 0], atol=1e-9)
    assert flow_time_grid(25, 3.0)[1] == pytest.approx(0.98630136986)


def test_guidance_interval_and_update_rule():
    calls = []

    def model(x, t, c):
        calls.append((float(t[0]), c))
        return x * 0 + (1.0 if c == "cond" else 0.25)

    x0 = torch.zeros(3, 2)
    steps = []
    res = flow_euler_guidance_interval(model, x0, "cond", "neg", steps=8, cfg_strength=5.0, cfg_interval=(0.5, 1.0),
                                       rescale_t=3.0, on_step=lambda d, n: steps.append((d, n)), record=True)
    t = flow_time_grid(8, 3.0)
    assert res.guided == [True] * 7 + [False]  # t = 0.5 is inside the closed interval
    assert len(calls) == 15 and [c for _, c in calls].count("neg") == 7
    assert calls[0][0] == pytest.approx(1000.0)
    v_guided = 6 * 1.0 - 5 * 0.25
    expect = -(sum((t[i] - t[i + 1]) * v_guided for i in range(7)) + (t[7] - t[8]) * 1.0)
    assert torch.allclose(res.samples, torch.full((3, 2), expect))
    assert steps == [(i, 8) for i in range(1, 9)]
    assert len(res.trajectory) == 8 and len(res.x0_predictions) == 8


def test_cancel_stops_before_the_next_step():
    token = CancelToken()
    seen = []

    def model(x, t, c):
        seen.append(1)
        return x

    def on_step(done, total):
        if done == 2:
            token.set()

    with pytest.raises(Cancelled):
        flow_euler_guidance_interval(model, torch.zeros(1), None, None, steps=5, cfg_interval=(2, 3),
                                     on_step=on_step, cancel=token)
    assert len(seen) == 2
