"""The flow-Euler sampler family on closed-form velocity fields (no network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synchuman.common import reporter, step_callback
from synchuman.errors import Cancelled
from synchuman.jobs import CancelToken
from synchuman.pipelines.samplers import (FlowEulerCfgSampler, FlowEulerGuidanceIntervalSampler, FlowEulerSampler,
                                          flow_time_grid)


def test_time_grid_keeps_reference_values():
    t = flow_time_grid(8, 3.0)
    np.testing.assert_allclose(t, [1, .9545454545, .9, .8333333333, .75, .6428571429, .5, .3, 0], atol=1e-9)
    assert flow_time_grid(25, 3.0)[1] == pytest.approx(0.98630136986)


@pytest.mark.parametrize("steps,shift", [(25, 3.0), (50, 3.0), (8, 1.0)])
def test_time_grid_is_diffusers_flow_match_time_shift(steps, shift):
    """Our grid is FlowMatchEulerDiscreteScheduler(shift=...)'s sigmas for the same unshifted grid
    (diffusers keeps them in float32, hence the tolerance)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(shift=shift)
    sched.set_timesteps(sigmas=list(np.linspace(1.0, 1.0 / steps, steps)))
    np.testing.assert_allclose(flow_time_grid(steps, shift), sched.sigmas.double().numpy(), atol=1e-6)


def _constant_model(calls):
    def model(x, t, c):
        calls.append((t, c))
        return x * 0 + (1.0 if c == "cond" else 0.25)
    return model


def test_guidance_interval_and_update_rule():
    calls, steps = [], []
    res = FlowEulerGuidanceIntervalSampler(5.0, (0.5, 1.0)).sample(
        _constant_model(calls), torch.zeros(3, 2), "cond", "neg", steps=8, rescale_t=3.0,
        callback=lambda d, n: steps.append((d, n)), record=True)
    t = flow_time_grid(8, 3.0)
    assert res.guided == [True] * 7 + [False]  # t = 0.5 is inside the closed interval
    assert len(calls) == 15 and [c for _, c in calls].count("neg") == 7
    assert calls[0][0] == pytest.approx(1.0)
    v_guided = 6 * 1.0 - 5 * 0.25
    expect = -(sum((t[i] - t[i + 1]) * v_guided for i in range(7)) + (t[7] - t[8]) * 1.0)
    assert torch.allclose(res.samples, torch.full((3, 2), expect))
    assert steps == [(i, 8) for i in range(0, 9)]
    assert len(res.trajectory) == 8 and len(res.x0_predictions) == 8
    # x0 prediction of the first step: (1 - s) x - (s + (1 - s) t) v with x = 0
    assert torch.allclose(res.x0_predictions[0], torch.full((3, 2), -(1e-5 + (1 - 1e-5)) * v_guided))


def test_cfg_always_guides_and_plain_euler_never():
    calls = []
    res = FlowEulerCfgSampler(2.0).sample(_constant_model(calls), torch.zeros(1), "cond", "neg", steps=4)
    assert res.guided == [True] * 4 and len(calls) == 8
    assert torch.allclose(res.samples, torch.tensor([-(3 * 1.0 - 2 * 0.25)]))  # the times sum to 1
    calls.clear()
    res = FlowEulerSampler().sample(_constant_model(calls), torch.zeros(1), "cond", steps=4)
    assert res.guided == [False] * 4 and len(calls) == 4 and torch.allclose(res.samples, torch.tensor([-1.0]))


def test_tuple_states_step_together():
    res = FlowEulerSampler().sample(lambda x, t, c: (x[0] * 0 + 1, x[1] * 0 + 2), (torch.zeros(2), torch.ones(3)),
                                    None, steps=5)
    assert torch.allclose(res.samples[0], torch.full((2,), -1.0)) and torch.allclose(res.samples[1], torch.full((3,), -1.0))


def test_one_callback_reports_progress_and_stops_on_cancel():
    token = CancelToken()
    seen, reports = [], []

    def model(x, t, c):
        seen.append(t)
        if len(seen) == 2:
            token.set()
        return x

    callback = step_callback(reporter(lambda *a: reports.append(a), token), "stage2", "step", total=8)
    with pytest.raises(Cancelled):
        FlowEulerGuidanceIntervalSampler(5.0, (2, 3)).sample(model, torch.zeros(1), None, None, steps=5,
                                                             callback=callback)
    assert len(seen) == 2  # cancelled during step 2: the report after it raises, step 3 never runs
    assert reports == [("stage2", 0, 8, "step 0/5"), ("stage2", 1, 8, "step 1/5")]


def test_cancel_set_before_sampling_runs_no_step():
    token = CancelToken()
    token.set()
    seen = []
    with pytest.raises(Cancelled):
        FlowEulerSampler().sample(lambda x, t, c: seen.append(t) or x, torch.zeros(1), None, steps=3,
                                  callback=step_callback(reporter(None, token), "stage1", "step"))
    assert seen == []
