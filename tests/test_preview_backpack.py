"""A backpack seen from the front by its straps (engines/preview/straps.py): found in real photos of
the benchmark's people by the real pose step, never on people without one (long hair, an open coat's
edges, a checked shirt, the creases beside the arms); and its box (engines/preview/backpack.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import clothed_people as cp  # noqa: E402

from synchuman.engines.preview import straps as finder  # noqa: E402
from synchuman.engines.preview.backpack import SIZE_M, Backpack  # noqa: E402
from synchuman.engines.preview.straps import FAINT_CONTRAST, MIN_CONTRAST, _one_colour, find_straps  # noqa: E402
from synchuman.foreground import cut_person  # noqa: E402
from synchuman.foreground.pose import LANDMARK  # noqa: E402


def _straps(name: str, seed: int, garments: tuple[str, ...] | None = None, size: int = 512):
    """find_straps on the benchmark's person `name` (benchmark seed `seed`, `size` px), its garments
    replaced by `garments` if given."""
    spec = next(c for c in cp.CASES if c[0] == name)
    index = cp.CASES.index(spec)
    if garments is not None:
        spec = (spec[0], spec[1], garments, *spec[3:])
    rgb = cp.render_case(spec, size, seed=1000 * seed + index + 1)["photo"][..., :3]
    person = cut_person(rgb)
    assert person.pose is not None
    straps = find_straps(rgb, person.alpha >= 128, person.pose.image)
    if straps is not None:   # both run down the chest, between the shoulders, one on each side of its middle
        shoulders = sorted(person.pose.image[[LANDMARK["left_shoulder"], LANDMARK["right_shoulder"]], 0])
        middle = sum(shoulders) / 2
        assert shoulders[0] < straps.columns[0] < middle < straps.columns[1] < shoulders[1], (shoulders, straps.columns)
    return straps


@pytest.mark.parametrize("name,seed", [("two_people_street", 0), ("raised_knee_backpack", 0),
                                       ("seated_hair_backpack_room", 7), ("turned_coat_backpack_yard", 0)])
def test_a_backpacks_straps_are_found(name, seed):
    """The turned walker's straps run slanted across the rows searched (its torso is turned 25
    degrees): a vote for one column missed them, the vote for one slanted line finds them."""
    straps = _straps(name, seed)
    assert straps is not None and straps.contrast >= MIN_CONTRAST


@pytest.mark.parametrize("name,seed", [("seated_hair_backpack_room", 11), ("turned_coat_backpack_yard", 19),
                                       ("turned_coat_backpack_yard", 31)])
def test_straps_below_the_shoulders_are_not_hair_of_their_colour(name, seed):
    """Ochre straps under fair hair falling beside the face (seed 11), brown straps slanting up to a
    brown face (seed 19): the head above shows the straps' colour, but cloth lies between the shoulders'
    line and the straps' start, which hair in front of the shoulders does not leave. Seed 31's turned
    walker: brown straps slanting up to the far side of her head, where her own brown hair shows beside
    the face, over the strap going over the shoulder; her neck and the coat's collar break the run."""
    straps = _straps(name, seed)
    assert straps is not None and straps.contrast >= MIN_CONTRAST


@pytest.mark.parametrize("name,seed", [("crossed_arms_hair_rocket", 0), ("dog_trousers_garden", 3)])
def test_long_hair_in_front_of_the_shoulders_is_not_straps(name, seed, monkeypatch):
    """Two locks of dark hair painted on the photo, hanging from beside the face over the shoulders
    onto the chest: two bands of one colour at a strap's distance, which pair as straps unless the
    unbroken run from beside the face down to the shoulders' line tells them for hair."""
    spec = next(c for c in cp.CASES if c[0] == name)
    rgb = cp.render_case(spec, 512, seed=1000 * seed + cp.CASES.index(spec) + 1)["photo"][..., :3].copy()
    landmarks = cut_person(rgb).pose.image
    at = lambda n: landmarks[LANDMARK[n], :2]  # noqa: E731
    shoulders = (at("left_shoulder") + at("right_shoulder")) / 2
    torso = np.linalg.norm(shoulders - (at("left_hip") + at("right_hip")) / 2)
    width = np.linalg.norm(at("left_shoulder") - at("right_shoulder"))
    rows, columns = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
    top, bottom = shoulders[1] - 0.5 * torso, shoulders[1] + 0.35 * torso
    down = np.clip((rows - top) / (bottom - top), 0, 1)
    for side in (-1, 1):   # a lock widening a little as it falls, with fine strands
        lock = (rows >= top) & (rows <= bottom) & (
            np.abs(columns - shoulders[0] - side * (0.27 + 0.05 * down) * width) <= (0.05 + 0.02 * down) * width)
        strands = 0.94 + 0.06 * np.sin(columns[lock] * 1.7)
        rgb[lock] = (np.array([60.0, 40, 25]) * strands[:, None]).astype(np.uint8)
    person = cut_person(rgb)
    assert find_straps(rgb, person.alpha >= 128, person.pose.image) is None
    monkeypatch.setattr(finder, "HAIR_RUN", 1.01)   # never hair: the locks are a pair of straps
    assert find_straps(rgb, person.alpha >= 128, person.pose.image) is not None


@pytest.mark.parametrize("name,seed", [("raised_knee_backpack", 20), ("two_people_street", 12)])
def test_a_strap_in_shade_is_found_where_it_mirrors_the_other(name, seed):
    """Navy straps on a striped shirt (seed 20), grey ones on a checked shirt (seed 12): the strap on
    the shaded side stands out from the shaded cloth beside it less than MIN_CONTRAST, and is found
    as the fainter band of the other's colour where it mirrors it."""
    straps = _straps(name, seed)
    assert straps is not None and FAINT_CONTRAST <= straps.contrast < MIN_CONTRAST


def test_a_strap_outvoted_on_its_side_is_found_where_it_mirrors_the_other():
    """Seed 13's seated person: light blue straps on a brown-striped shirt. On her left the dark stripes
    at the torso's shaded edge make the line most rows agree on, in a colour unlike the right strap's;
    the strap beside it, in the right strap's colour where it mirrors it, makes the pair."""
    straps = _straps("seated_hair_backpack_room", 13)
    assert straps is not None and straps.contrast >= MIN_CONTRAST


@pytest.mark.parametrize("name,seed", [("raised_knee_backpack", 22), ("seated_hair_backpack_room", 25),
                                       ("turned_coat_backpack_yard", 29)])
def test_a_strap_standing_out_as_no_band_is_a_run_of_the_others_colour(name, seed):
    """Navy straps on a blue striped shirt (seed 22), the photo's right one running along the torso's
    edge against the bare arm; purple straps on a blue shirt with the pack's purple side beside the
    strap (seed 25); grey-blue straps on a turned walker's checked shirt, one by her coat's edge (seed
    29): on one side the
    strap differs from the cloth on one side of it only, and no band is seen there, faint or not. A
    run of the other strap's colour, a strap wide, where it mirrors it, makes the pair (contrast 0)."""
    straps = _straps(name, seed)
    assert straps is not None and straps.contrast == 0.0


def test_a_strap_of_the_shirts_colour_pairs_with_a_run_of_it_on_the_cloth():
    """Seed 8's raised knee: orange straps on an orange shirt, in its shade. On one side a band in the
    shirt's colour in shade is seen (turned down alone as a crease), on the other none: a run of its
    colour where it mirrors it, with cloth on both sides of it, makes the pair."""
    straps = _straps("raised_knee_backpack", 8)
    assert straps is not None and straps.contrast == 0.0


def test_the_shade_along_the_torsos_edge_is_no_mirrored_strap(monkeypatch):
    """Seed 20's walker in a yellow shirt (1024 px), no pack: a shaded band on one side of her chest,
    and on the other the shade under the chest, in its colour where it mirrors it, runs on to the
    torso's edge in half the rows. Counted there (no cloth beyond it needed), it made a pack."""
    assert _straps("ball_walking_yard", 20, size=1024) is None
    run = finder._mirrored_run
    monkeypatch.setattr(finder, "_mirrored_run", lambda *args: run(*args[:6]))   # within_cloth left out
    assert _straps("ball_walking_yard", 20, size=1024) is not None


def test_a_strap_in_shade_is_still_one_of_a_pair():
    """Seed 2's seated person (1024 px): her left strap lies in the shade of the pack beside it, half
    as light as the right one (Lab distance 23, over MAX_PAIR_COLOUR) but of the same chromaticity."""
    assert _straps("seated_hair_backpack_room", 2, size=1024) is not None


def test_a_strip_of_a_coloured_shirt_in_shade_does_not_hide_the_straps():
    """Seed 6's turned walker (1024 px) in a yellow shirt: between each dark strap and the dark coat
    beside it a strip of the shirt, in shade, stands out as a band too, on both sides. That pair was
    tried first and turned down as the cloth in shade, and no other pair was tried. Bands in the
    cloth's own colour in shade are no straps: the straps themselves pair."""
    assert _straps("turned_coat_backpack_yard", 6, size=1024) is not None


def test_the_packs_side_beside_a_checked_shirt_does_not_outvote_the_strap(monkeypatch):
    """Seed 1's seated person (1024 px) in a checked shirt: on her right the pack's grey side shows
    between the arm and the torso, in every row searched, and once outvoted the strap beside it (her
    landmarks 4-9 px away, with the mask completed at 3 iterations); that line's colour wanders (the
    checks beside it), so the next line, the strap's, is tried. Drawn here as candidates: the side's
    line in every row, its colour alternating; the strap's in three rows of four, one colour."""
    rows = np.arange(100, 140)
    side = [(v, -85.0, 20.0, np.array([50.0, 130, 130]) if v % 2 else np.array([80.0, 130, 165])) for v in rows]
    strap = [(v, -58.0, 18.0, np.array([40.0, 128, 128])) for v in rows if v % 4]
    band = finder._strap_band(side + strap, rows, np.zeros(len(rows)), 5.0)
    assert band is not None and band[0] == pytest.approx(-58.0)
    monkeypatch.setattr(finder, "LINES_TRIED", 1)
    assert finder._strap_band(side + strap, rows, np.zeros(len(rows)), 5.0) is None   # the first line alone
    monkeypatch.undo()
    assert _straps("seated_hair_backpack_room", 1, size=1024) is not None


def test_a_turned_walkers_one_strap_in_view_is_enough(monkeypatch):
    """Seed 7's turned walker (1024 px, turned 30 degrees, her nose 0.15 of the shoulder width beside
    their centre): the chest shows displaced towards her face, and her far strap runs along the torso's
    edge against the arm, standing out in 13 of 88 rows; the near one is seen in 73. Found by the near
    strap alone, which is drawn twice, on the chest. Taken for a person facing the camera, the far
    strap is found as a run of the near one's colour where it mirrors it (`_mirrored_run`), and
    without that run not at all."""
    spec = next(c for c in cp.CASES if c[0] == "turned_coat_backpack_yard")
    rgb = cp.render_case(spec, 1024, seed=7000 + cp.CASES.index(spec) + 1)["photo"][..., :3]
    person = cut_person(rgb)
    mask, landmarks = person.alpha >= 128, person.pose.image
    straps = find_straps(rgb, mask, landmarks)
    assert straps is not None and straps.columns[0] == straps.columns[1]
    shoulders = sorted(landmarks[[LANDMARK["left_shoulder"], LANDMARK["right_shoulder"]], 0])
    assert shoulders[0] < straps.columns[0] < shoulders[1]
    assert max(straps.colour_rgb) < 90                          # her straps are black, her shirt purple
    monkeypatch.setattr(finder, "TURNED", 1.0)                # taken for a person facing the camera
    pair = find_straps(rgb, mask, landmarks)
    assert pair is not None and pair.columns[0] + 20 < pair.columns[1] and pair.contrast == 0.0
    monkeypatch.setattr(finder, "MIRRORED_RUN", (1.0, 0.0))   # no run of a strap's width
    assert find_straps(rgb, mask, landmarks) is None


def test_one_band_far_out_on_a_turned_person_is_no_strap(monkeypatch):
    """Seed 18's person turned 30 degrees in a checked shirt, no pack: the backdrop between her far
    arm and her torso makes one light band down most of the chest, 0.62 shoulder widths from its
    middle; a turned person's near strap lies 0.27-0.46 from it."""
    spec = next(c for c in cp.CASES if c[0] == "turned30_skirt_studio")
    rgb = cp.render_case(spec, 512, seed=18000 + cp.CASES.index(spec) + 1)["photo"][..., :3]
    person = cut_person(rgb)
    mask, landmarks = person.alpha >= 128, person.pose.image
    assert find_straps(rgb, mask, landmarks) is None
    monkeypatch.setattr(finder, "ONE_STRAP_REACH", 1.0)
    straps = find_straps(rgb, mask, landmarks)
    assert straps is not None and straps.columns[0] == straps.columns[1]


def test_two_colours_are_one_straps_colour_alike_or_shaded_not_otherwise():
    """find_straps' colours are Lab (OpenCV's 8-bit scale) with the lightness scaled by LIGHTNESS."""
    import cv2

    from synchuman.engines.preview.straps import LIGHTNESS

    def lab(rgb):
        c = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float64)
        return c * [LIGHTNESS, 1, 1]

    red = np.array([110, 46, 26])
    assert _one_colour(lab(red), lab(red + 4))
    assert _one_colour(lab(red), lab(red * 0.55))             # in shade: same chromaticity
    assert not _one_colour(lab(red), lab(red * 0.3))          # too dark for the same strap in shade
    assert not _one_colour(lab(red), lab([40, 60, 110]))      # blue and red
    assert not _one_colour(lab([196, 198, 192]), lab([59, 60, 58]))  # white and dark grey (seed 1's crossed arms)


def test_the_creases_beside_a_coloured_shirt_are_its_shade_not_straps():
    """Seed 3's walker with a ball (1024 px), in a yellow shirt: the shaded creases between her arms and
    her torso, (84, 69, 25) beside (200, 170, 50), stood out by 18 Lab units, a pair of one colour."""
    import cv2

    from synchuman.engines.preview.straps import LIGHTNESS, _cloth_in_shade

    def lab(rgb):
        c = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float64)
        return c * [LIGHTNESS, 1, 1]

    yellow, grey = np.array([200, 170, 50]), np.array([150, 150, 150])
    assert _cloth_in_shade(lab(yellow * 0.42), lab(yellow))
    assert not _cloth_in_shade(lab([30, 30, 30]), lab(yellow))      # a black strap on the yellow shirt
    assert not _cloth_in_shade(lab([60, 20, 20]), lab(yellow))      # a dark red strap
    assert not _cloth_in_shade(lab(grey * 0.4), lab(grey))          # grey cloth: shade and strap alike
    assert _straps("ball_walking_yard", 3, size=1024) is None


def test_straps_of_the_shirts_own_colour_are_found_as_a_mirrored_pair():
    """Seed 21's person with a raised knee (1024 px) carries a pack of her yellow checked shirt's colour:
    each strap is the shirt's colour in shade, turned down alone as a crease would be (`_cloth_in_shade`),
    and the two bands, mirror images about the torso's axis, make the pair (her Chamfer 47.7 -> 20.9 mm)."""
    import cv2

    from synchuman.engines.preview.straps import LIGHTNESS, _cloth_in_shade

    straps = _straps("raised_knee_backpack", 21, size=1024)
    assert straps is not None
    lab = lambda rgb: cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float64) * [LIGHTNESS, 1, 1]  # noqa: E731
    assert _cloth_in_shade(lab(straps.colour_rgb), lab([230, 184, 56]))   # the shirt's yellow (0.9, 0.72, 0.22)


def test_a_strap_with_its_packs_side_beside_it(monkeypatch):
    """Seed 4's person with a raised knee (1024 px), in a skin-coloured shirt: on her left the pack's
    dark side shows between the black strap and the arm, so the strap stands out from the cloth on one
    side only (5 of 79 rows on both). It is found with the pack's side beside it; without, only as the
    fainter band mirroring the other strap, and not at all without that either."""
    straps = _straps("raised_knee_backpack", 4, size=1024)
    assert straps is not None and straps.contrast >= MIN_CONTRAST
    monkeypatch.setattr(finder, "PACK_BESIDE", 0.0)           # no run may end beside a strap
    straps = _straps("raised_knee_backpack", 4, size=1024)
    assert straps is not None and straps.contrast < MIN_CONTRAST
    monkeypatch.setattr(finder, "MIRROR_REACH", -1.0)         # no band mirrors the other strap
    assert _straps("raised_knee_backpack", 4, size=1024) is None


def test_a_strap_next_to_the_packs_side_is_paired_rather_than_the_side():
    """Seed 4's seated person (1024 px): beside her purple straps the pack's lighter side shows; on her
    right it outvotes the strap, in a colour unlike the other strap's. The strap, the next line, makes
    the pair."""
    assert _straps("seated_hair_backpack_room", 4, size=1024) is not None


def test_a_run_beside_a_strap_ends_on_the_arm_not_at_the_torsos_edge():
    """_ends_beside on made-up rows (Lab): a strap and the pack's side end at the arm, in the cloth's
    colour; an open coat's edge runs on off the person; shade grows darker to the torso's edge."""
    from synchuman.engines.preview.straps import _ends_beside

    cloth, strap, pack = np.array([50.0, 150, 150]), np.array([15.0, 128, 128]), np.array([18.0, 126, 130])
    row = np.array([cloth] * 20 + [strap] * 8 + [pack] * 8 + [cloth * 0.95] * 10 + [[80.0, 100, 100]] * 4)
    on_person = np.arange(len(row)) < 46
    assert _ends_beside(row, on_person, 24, 1, strap, cloth, 30)
    assert not _ends_beside(row, on_person, 24, 1, strap, cloth, 10)        # not within reach
    assert _ends_beside(row[::-1], on_person[::-1], len(row) - 25, -1, strap, cloth, 30)   # the other way
    coat = np.array([cloth] * 20 + [strap] * 26 + [[80.0, 100, 100]] * 4)
    assert not _ends_beside(coat, on_person, 24, 1, strap, cloth, 30)
    shade = np.array([cloth] * 20 + [cloth * f for f in np.linspace(0.6, 0.1, 26)] + [[80.0, 100, 100]] * 4)
    assert not _ends_beside(shade, on_person, 22, 1, shade[22], cloth, 30)


@pytest.mark.parametrize("name,seed", [("standing_studio", 0), ("walking_coat_street", 0),
                                       ("crossed_arms_hair_rocket", 0), ("kneeling_hood_garden", 7),
                                       ("seated_trousers_box", 7), ("dog_trousers_garden", 7),
                                       ("turned30_skirt_studio", 7), ("small_person_garden", 11),
                                       ("seated_trousers_box", 19)])
def test_people_without_a_backpack_have_no_straps(name, seed):
    """Long hair over the shoulders, an open coat's edges, a hood's strings, a logo, the creases beside
    the arms are not straps; nor, on a turned person, is one band alone; nor are the backdrop's strips
    the mask takes in beside the arms (seeds 11 and 19: a pair farther apart than a daypack's straps)."""
    assert _straps(name, seed) is None


@pytest.mark.parametrize("name", ["seated_trousers_box", "small_person_garden"])
def test_bands_that_do_not_mirror_each_other_are_no_straps_on_a_person_facing_the_camera(name, monkeypatch):
    """Seed 30's white shirts with a dark ring for a logo (1024 px): the ring's arc and a band at the
    torso's shaded edge on the other side, as far apart as straps, 0.27-0.35 shoulder widths from
    mirroring each other about the torso's axis (a pack's straps: within 0.11)."""
    assert _straps(name, 30, size=1024) is None
    monkeypatch.setattr(finder, "MAX_ASYMMETRY", 1.0)
    assert _straps(name, 30, size=1024) is not None


def test_the_same_person_without_the_pack_has_no_straps():
    """The person in a checked shirt whose straps are found (seed 7), photographed without the pack."""
    assert _straps("raised_knee_backpack", 7) is not None
    assert _straps("raised_knee_backpack", 7, garments=()) is None


def test_the_backpacks_box_and_its_distance():
    pack = Backpack(centre=np.array([0.0, 1.2, -0.2]), axes=np.eye(3), half=np.array(SIZE_M) / 2,
                    colour_rgb=np.array([10, 20, 30], np.uint8))
    half = np.array(SIZE_M) / 2
    faces = pack.centre + np.array([[half[0], 0, 0], [0, half[1], 0], [0, 0, -half[2]]])
    assert np.allclose(pack.signed_distance(faces), 0.0, atol=1e-9)   # the middle of each face is on it
    assert pack.signed_distance(pack.centre[None])[0] == pytest.approx(-half.min())
    assert pack.signed_distance(pack.centre[None] + [0, 0, -half[2] - 0.05])[0] == pytest.approx(0.05)
    corners = pack.corners()
    assert np.allclose(corners.min(0), pack.centre - half) and np.allclose(corners.max(0), pack.centre + half)
    assert pack.signed_distance(corners).min() > 0   # rounded: the box's corners are outside


@pytest.mark.parametrize("yaw_deg", [0.0, 8.0])
def test_the_pack_turns_with_the_torso_not_with_a_walkers_swinging_arms(yaw_deg):
    """A torso turned 20 degrees (its joints' turn, `PhotoBody.torso_turn`, in the camera's frame:
    the metric frame is turned from it by the camera's yaw, as for a person off the photo's axis)
    whose left arm swings 25 cm forward and right arm 20 cm back: the pack lies square behind the
    torso's back. Turned the upper arms' way (the code before), it turned 63 degrees, 43 more than the
    torso."""
    from types import SimpleNamespace

    from synchuman.engines.preview.camera import PhotoCamera

    turn = np.radians(20.0)
    across, forward = np.array([np.cos(turn), 0.0, np.sin(turn)]), np.array([-np.sin(turn), 0.0, np.cos(turn)])
    angle, height = np.meshgrid(np.linspace(0, 2 * np.pi, 48, endpoint=False), np.linspace(0.9, 1.5, 25))
    # the torso: an elliptic cylinder 36 x 22 cm; the upper arms: 8 cm cylinders beside it
    torso = (np.outer(0.18 * np.cos(angle.ravel()), across) + np.outer(0.11 * np.sin(angle.ravel()), forward)
             + np.outer(height.ravel(), [0.0, 1.0, 0.0]))
    arm = np.column_stack([0.04 * np.cos(angle.ravel()), height.ravel() - 0.1, 0.04 * np.sin(angle.ravel())])
    left, right = arm + 0.24 * across + 0.25 * forward, arm - 0.24 * across - 0.2 * forward
    camera = PhotoCamera(px_per_m=500.0, yaw=np.radians(yaw_deg))
    metric = np.vstack([torso, left, right])
    seen = camera.turn(across[None], inverse=True)[0]   # the torso's across direction as the camera sees it
    body = SimpleNamespace(camera=camera, vertices_px=camera.to_photo(metric), torso_turn=np.arctan2(seen[2], seen[0]),
                           part_names=["torso", "upper_arm.L", "upper_arm.R"],
                           vertex_parts=np.repeat([0, 1, 2], [len(torso), len(left), len(right)]))
    pack = Backpack.place(body, SimpleNamespace(colour_rgb=np.array([10, 20, 30], np.uint8)))
    assert np.allclose(pack.axes[0], across, atol=1e-9) and np.allclose(pack.axes[2], forward, atol=1e-9)
    behind = (pack.centre - torso.mean(0)) @ forward
    assert behind == pytest.approx(-0.11 - SIZE_M[2] / 2, abs=0.01)   # its front against the torso's back
    assert abs((pack.centre - torso.mean(0)) @ across) < 1e-6   # on the spine
