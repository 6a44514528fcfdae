"""The backdrop the learned mask took in, cut out by colour about the pose's core
(foreground/backdrop.py): a drawn person whose mask spilled beside the hand and whose forearm runs out
of the photo, and a benchmark photo where the mask held the street beside the walker's hands."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import clothed_people as cp  # noqa: E402
import synchuman.foreground as foreground  # noqa: E402
from synchuman.foreground.backdrop import without_backdrop  # noqa: E402
from test_foreground_completion import pose_with  # noqa: E402

BACKDROP, COAT, SKIN, SLEEVE = (90, 110, 150), (60, 80, 50), (220, 180, 150), (95, 112, 145)


def drawn_person(rng_seed: int = 0):
    """A blue-grey, noisy backdrop; a dark green coat (torso and a sleeve) with a skin-coloured hand
    below the sleeve; a second arm, in a sleeve of nearly the backdrop's colour, running out of the
    photo's bottom edge. The mask (as MediaPipe's spills) also holds a patch of the backdrop beside the
    hand."""
    rng = np.random.default_rng(rng_seed)
    rgb = np.empty((640, 480, 3), np.float32)
    rgb[:] = BACKDROP
    person = np.zeros(rgb.shape[:2], bool)
    for (r0, r1, c0, c1), colour in (((120, 420, 180, 300), COAT), ((130, 330, 140, 175), COAT),
                                     ((330, 400, 145, 170), SKIN), ((130, 640, 305, 335), SLEEVE)):
        rgb[r0:r1, c0:c1] = colour
        person[r0:r1, c0:c1] = True
    rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    spill = np.zeros_like(person)
    spill[340:400, 110:145] = True   # the backdrop beside the hand
    pose = pose_with({"left_shoulder": (290, 130), "right_shoulder": (190, 130), "left_hip": (280, 410),
                      "right_hip": (200, 410), "right_elbow": (157, 230), "right_wrist": (157, 335),
                      "right_index": (157, 395), "left_elbow": (320, 330), "nose": (240, 80),
                      "left_ear": (255, 75), "right_ear": (225, 75)})
    return rgb, person, spill, pose


def test_the_backdrop_beside_a_hand_is_cut_out_and_the_person_kept():
    rgb, person, spill, pose = drawn_person()
    kept = without_backdrop(rgb, person | spill, pose)
    # the spill goes (but for a pixel along its edge, the cut's working scale), and for the strip the
    # hand's core band covers (its bones 3 % of the height wide to either side: fingers reach beyond
    # the landmarks)
    assert kept[340:400, 110:140].mean() < 0.1 and kept[spill].mean() < 0.2
    assert kept[person].mean() > 0.99                    # the coat, the hand and the other arm stay
    # that arm below its elbow has no seen bone (its wrist is outside the photo) and nearly the
    # backdrop's colour: it reaches the photo's frame, so it is the person going on, not backdrop
    assert kept[600:640, 305:335].all()


def test_a_mask_without_backdrop_is_returned_as_it_is():
    rgb, person, _, pose = drawn_person()
    assert without_backdrop(rgb, person, pose) is person


def test_the_street_beside_a_walkers_hands_leaves_the_mask_and_the_pose_stays(monkeypatch):
    """Seed 0's walker in a long coat (1024 px): the learned mask held the blue-grey street beside both
    hands (IoU 0.959); cut out, 0.974, and almost all that went is backdrop. The pose is read before
    the cut and is the same with it or without."""
    spec = next(c for c in cp.CASES if c[0] == "walking_coat_street")
    case = cp.render_case(spec, 1024, seed=cp.CASES.index(spec) + 1)
    rgb, truth = case["photo"][..., :3], case["truth"]["mask"]
    cut = foreground.cut_person(rgb)
    monkeypatch.setattr(foreground, "without_backdrop", lambda rgb, mask, pose: mask)
    before = foreground.cut_person(rgb)
    iou = lambda m: (m & truth).sum() / (m | truth).sum()   # noqa: E731
    mask, mask_before = cut.alpha >= 128, before.alpha >= 128
    removed = mask_before & ~mask
    assert iou(mask) > iou(mask_before) + 0.01, (iou(mask_before), iou(mask))
    assert removed.sum() > 1000 and (removed & ~truth).sum() > 0.9 * removed.sum()
    assert not (mask & ~mask_before).any()               # it only takes away
    assert np.array_equal(cut.pose.image, before.pose.image)


@pytest.mark.parametrize("rng_seed", [1, 2])
def test_the_cut_is_the_same_every_time(rng_seed):
    rgb, person, spill, pose = drawn_person(rng_seed)
    assert np.array_equal(without_backdrop(rgb, person | spill, pose), without_backdrop(rgb, person | spill, pose))
