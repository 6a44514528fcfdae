"""The dressed body's garments (engines/preview/dress.py) on real runs of the preview engine on clothed
synthetic people, against their true surface: wide trousers stay two legs down to the feet (no
skirt's tube across them), the hands beside the hips make no ledge, and a coat's depth has no steps
(normal consistency against the truth, as benchmarks/preview_clothed.py measures it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from preview_clothed import surface_scores  # noqa: E402
from test_preview_body import _case  # noqa: E402

from synchuman.body.data import body_data_path  # noqa: E402

pytestmark = pytest.mark.skipif(not body_data_path().is_file(),
                                reason="the body data is built by `python build.py setup`")


def _dressed(tmp_path, name: str):
    """(case, the closed mesh's vertices and faces in the GLB frame at the person's true height)."""
    from synchuman.engines import ReconstructSettings
    from synchuman.engines.preview import build_preview
    from synchuman.images import load_photo

    case = _case(name)
    path = tmp_path / f"{name}.png"
    Image.fromarray(case["photo"]).save(path)
    height = float(case["meta"]["top_m"])
    built = build_preview(load_photo(path), ReconstructSettings(engine="preview", rig=False, height_m=height),
                          lambda *a: None)
    assert built.notes["method"] == "body", built.notes["warnings"]
    return case, built.closed_vertices, built.closed_faces


def _depth_ratio(vertices: np.ndarray, truth: np.ndarray, lo: float, hi: float) -> float:
    """Our depth (z extent) over the true one in a band of heights (fractions of the true height)."""
    top = truth[:, 1].max()
    band = lambda v: v[(v[:, 1] > lo * top) & (v[:, 1] < hi * top)]  # noqa: E731
    return float(np.ptp(band(vertices)[:, 2]) / np.ptp(band(truth)[:, 2]))


def test_wide_trousers_stay_two_legs_and_the_hands_make_no_ledge(tmp_path):
    case, verts, faces = _dressed(tmp_path, "dog_trousers_garden")
    truth = case["truth"]["vertices"]
    # the trouser legs touch all the way down in the photo: a skirt's tube across both (0.8 as deep as
    # the pair is wide) made them ~1.6x as deep as they are; two round legs are ~1.25x
    legs = [_depth_ratio(verts, truth, lo, lo + 0.05) for lo in np.arange(0.05, 0.35, 0.05)]
    assert np.median(legs) < 1.4, legs
    # the hands hang beside the hips: the hips and hands together are no skirt (its tube made a ledge
    # 1.8x as deep as the hips)
    hips = [_depth_ratio(verts, truth, lo, lo + 0.05) for lo in (0.40, 0.45)]
    assert max(hips) < 1.6, hips
    scores = surface_scores(verts, faces, truth.astype(np.float64), case["truth"]["faces"],
                            float(case["meta"]["top_m"]))
    assert scores["normal_consistency"] > 0.76, scores   # 0.74 with the tube


def test_a_coats_depth_has_no_ledges(tmp_path):
    """The garment's depth centre is continued from the body; switching between blur scales where
    each first reached left steps across the coat (normal consistency 0.65)."""
    case, verts, faces = _dressed(tmp_path, "walking_coat_street")
    scores = surface_scores(verts, faces, case["truth"]["vertices"].astype(np.float64), case["truth"]["faces"],
                            float(case["meta"]["top_m"]))
    assert scores["normal_consistency"] > 0.68, scores
