"""Golden case a: one forward of the tiny joint model loaded through our loader from the official
folder layout, against the reference (tolerance of the golden README: 1e-4 * max(1, |ref|))."""

import time

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case

from synchuman.models.registry import load_model


@pytest.mark.slow
@pytest.mark.parametrize("root", golden_cases("a_joint_forward.safetensors"))
def test_joint_forward_matches_reference(root):
    model = load_model(root / "tiny/ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion")
    c, meta = load_case(root, "a_joint_forward.safetensors")
    t0 = time.perf_counter()
    with torch.no_grad():
        v2d, v3d = model(c["sample"], float(c["timestep"]), c["encoder_hidden_states"], c["class_labels"],
                         c["trellis_x"], c["trellis_t"], c["trellis_cond"])
    print(f"tiny joint forward: {time.perf_counter() - t0:.1f} s")
    assert_close(v2d, c["out_v2d"], 1e-4, "out_v2d")
    assert_close(v3d, c["out_v3d"], 1e-4, "out_v3d")


@pytest.mark.slow
def test_joint_forward_half_precision_plumbing():
    """bf16 weights (the CUDA path uses fp16/bf16) run end to end and stay close to fp32; one
    unguided group at a 24^2 latent keeps this cheap on CPU (the sync blocks take their sizes from the feature maps).
    The final outputs alone could hide an error confined to the 2D-3D synchronisation (its updates
    are a small part of them), so the update each of the four sync blocks adds is compared too."""
    from golden_support import golden_roots

    folder = golden_roots()[0] / "tiny/ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion"
    m32 = load_model(folder)
    m16 = load_model(folder, dtype=torch.bfloat16)
    assert m16.unet.conv_in.weight.dtype == torch.bfloat16 and m16.ss_flow.pos_emb.dtype == torch.bfloat16
    g = torch.Generator().manual_seed(0)
    args = (torch.randn(10, 8, 24, 24, generator=g), 500.0, torch.randn(10, 77, 32, generator=g),
            torch.randn(10, 32, generator=g), torch.randn(1, 8, 16, 16, 16, generator=g), torch.tensor([500.0]),
            torch.randn(1, 1374, 32, generator=g))
    updates = {}

    def record(model, tag):
        def hook(name, domain):  # domain: which argument the block updates (0 images, 1 voxel tokens)
            def keep(mod, inp, out):  # returns None: the block's output is left as it is
                updates[(tag, name)] = (out - inp[domain]).float()
            return keep
        for i, blk in enumerate(model.dual_CrossAttblocks_SS):
            blk.register_forward_hook(hook(f"SS[{i}]", 1))
        for i, blk in enumerate(model.dual_CrossAttblocks_MV):
            blk.register_forward_hook(hook(f"MV[{i}]", 0))

    record(m32, "fp32")
    record(m16, "bf16")
    with torch.no_grad():
        a2, a3 = m32(*args)
        b2, b3 = m16(*args)
    for name in ("SS[0]", "SS[1]", "MV[0]", "MV[1]"):
        a, b = updates[("fp32", name)], updates[("bf16", name)]
        assert float(a.norm()) > 0, f"{name} changed nothing"
        rel = float((a - b).norm() / a.norm())
        assert rel < 0.05, f"{name} update differs in bf16 by {rel:.3f} (relative L2)"
    assert b2.dtype == torch.float32 and b3.dtype == torch.float32  # outputs in the inputs' dtype
    assert a2.shape == (10, 4, 24, 24) and a3.shape == (1, 8, 16, 16, 16)
    for a, b in ((a2, b2), (a3, b3)):
        rel = float((a - b).norm() / a.norm())
        assert rel < 0.05, rel
