"""Golden case a: one forward of the tiny joint model loaded through our loader from the official
folder layout, against the reference (tolerance of the golden README: 1e-4 * max(1, |ref|))."""

import time

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case

from synchuman.models.joint import load_joint_model


@pytest.mark.slow
@pytest.mark.parametrize("root", golden_cases("a_joint_forward.safetensors"))
def test_joint_forward_matches_reference(root):
    model = load_joint_model(root / "tiny/ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion")
    c, meta = load_case(root, "a_joint_forward.safetensors")
    t0 = time.perf_counter()
    with torch.no_grad():
        v2d, v3d = model(c["sample"], float(c["timestep"]), c["encoder_hidden_states"], c["class_labels"],
                         c["trellis_x"], c["trellis_t"], c["trellis_cond"])
    print(f"tiny joint forward: {time.perf_counter() - t0:.1f} s")
    assert_close(v2d, c["out_v2d"], 1e-4, "out_v2d")
    assert_close(v3d, c["out_v3d"], 1e-4, "out_v3d")
