"""Golden case b: the tiny sparse-structure decoder through our loader, and the occupancy coords."""

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case

from synchuman.models.registry import load_model
from synchuman.models.ss_decoder import pixel_shuffle_3d


@pytest.mark.parametrize("root", golden_cases("b_ss_decoder.safetensors"))
def test_ss_decoder_matches_reference(root):
    dec = load_model(root / "tiny/ckpts/OneStage/sparse_structure_decoder", expected_name="SparseStructureDecoder")
    c, _ = load_case(root, "b_ss_decoder.safetensors")
    with torch.no_grad():
        out = dec(c["in_latent"])
    assert_close(out, c["out_logits"], 1e-4, "out_logits")


def test_pixel_shuffle_3d_places_subvoxels():
    x = torch.zeros(1, 8, 1, 1, 1)
    for i in range(8):
        x[0, i] = i
    y = pixel_shuffle_3d(x, 2)[0, 0]
    for sx in range(2):
        for sy in range(2):
            for sz in range(2):
                assert y[sx, sy, sz] == 4 * sx + 2 * sy + sz
