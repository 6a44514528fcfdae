"""Gaussian representation: raw decoder output of golden case d -> the reference Gaussian
tensors (stored and activated), and the fixed offset perturbation."""

from __future__ import annotations

import json

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case
from synchuman.models.gaussian import GaussianConfig, gaussians_from_features, offset_perturbation


@pytest.mark.parametrize("root", golden_cases("d_decoders.safetensors"))
def test_gaussians_from_golden_raw_output(root):
    t, _ = load_case(root, "d_decoders.safetensors")
    cfg_json = json.loads((root / "tiny/ckpts/SecondStage/ckpts/decoder_GS/config.json").read_text())
    args = cfg_json["args"]
    config = GaussianConfig.from_dict(args["representation_config"])
    assert config.out_channels == t["gs_out_raw"].shape[1]
    g = gaussians_from_features(t["gs_out_raw"], t["in_coords"][:, 1:], args["resolution"], config)
    assert_close(g.xyz, t["gs__xyz"], 1e-5, "_xyz")
    assert_close(g.features_dc, t["gs__features_dc"], 1e-5, "_features_dc")
    assert_close(g.scaling, t["gs__scaling"], 1e-5, "_scaling")
    assert_close(g.rotation, t["gs__rotation"], 1e-5, "_rotation")
    assert_close(g.opacity, t["gs__opacity"], 1e-5, "_opacity")
    assert_close(g.positions, t["gs_get_xyz"], 1e-5, "positions")
    assert_close(g.scales, t["gs_get_scaling"], 1e-5, "scales")
    assert_close(g.rotations, t["gs_get_rotation"], 1e-5, "rotations")
    assert_close(g.opacities, t["gs_get_opacity"], 1e-5, "opacities")
    c = g.colors
    assert c.shape == (len(g), 3) and float(c.min()) >= 0 and float(c.max()) <= 1


def test_offset_perturbation_matches_checkpoint_buffer():
    from safetensors.torch import load_file
    from golden_support import golden_roots

    sd = load_file(str(golden_roots()[0] / "tiny/ckpts/SecondStage/ckpts/decoder_GS/model.safetensors"))
    assert_close(offset_perturbation(GaussianConfig()), sd["offset_perturbation"], 1e-6, "perturbation")
    # with zero decoder offsets the Gaussians sit where the perturbation puts them: inside their own
    # voxel ((2 h - 1) / 2 voxels from the centre, h in [0, 1))
    cfg = GaussianConfig()
    pert = offset_perturbation(cfg)
    assert torch.isfinite(pert).all()
    in_voxel = torch.tanh(pert) * cfg.voxel_size / 2
    assert float(in_voxel.min()) >= -0.5 and float(in_voxel.max()) < 0.5
    # any decoder output keeps every Gaussian within the 1.5-voxel footprint around its voxel centre
    res, coords = 64, torch.tensor([[0, 0, 0], [10, 20, 30], [63, 63, 63]])
    feats = torch.randn(3, cfg.out_channels, generator=torch.Generator().manual_seed(0)) * 50
    g = gaussians_from_features(feats, coords, res, cfg)
    centres = ((coords.float() + 0.5) / res).repeat_interleave(cfg.num_gaussians, 0)
    dist_voxels = (g.xyz - centres).abs() * res
    assert float(dist_voxels.max()) <= cfg.voxel_size / 2 + 1e-5
    assert float(dist_voxels.max()) > 0.7  # the large offsets reach the edge of the footprint
