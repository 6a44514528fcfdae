"""Job folders, weighted progress and cancellation."""

from __future__ import annotations

import pytest

from synchuman.engines.base import ReconstructSettings
from synchuman.errors import Cancelled, SyncHumanError
from synchuman.jobs import PARTIAL_MARK, CancelToken, JobFolder, ProgressReporter, Stage, safe_name


def test_job_folder_is_hidden_until_committed(tmp_path):
    job = JobFolder(tmp_path, "anna")
    job.create()
    job.file("views/front.png").write_bytes(b"x")
    assert job.path.name.startswith(".anna" + PARTIAL_MARK)
    assert not (tmp_path / "anna").exists()
    final = job.commit()
    assert final == tmp_path / "anna" and (final / "views" / "front.png").read_bytes() == b"x"
    assert not any(PARTIAL_MARK in p.name for p in tmp_path.iterdir())


def test_second_job_with_the_same_name_gets_a_new_folder(tmp_path):
    for expected in ("anna", "anna-2", "anna-3"):
        job = JobFolder(tmp_path, "anna")
        job.create()
        job.file("human.glb").write_bytes(b"glb")
        assert job.commit().name == expected


def test_discard_leaves_nothing(tmp_path):
    job = JobFolder(tmp_path, "bob")
    job.create()
    job.file("half.glb").write_bytes(b"half")
    job.discard()
    assert list(tmp_path.iterdir()) == []


def test_job_files_cannot_escape(tmp_path):
    job = JobFolder(tmp_path / "out", "x")
    job.create()
    with pytest.raises(ValueError):
        job.file("../../evil.txt")


@pytest.mark.parametrize("stem, expected", [("../../etc/passwd", "etc_passwd"), ("my photo (1)", "my_photo_1"),
                                            ("...", "photo"), ("Ünïcode", "Ünïcode"), ("a/b\\c", "a_b_c")])
def test_safe_name(stem, expected):
    assert safe_name(stem) == expected


def test_progress_is_weighted_and_monotonic():
    events = []
    stages = (Stage("a", "A", 1.0), Stage("b", "B", 3.0))
    progress = ProgressReporter(stages, events.append)
    progress.MIN_INTERVAL_S = 0.0
    progress("a", 0, 1)
    progress("a", 1, 1)
    for i in range(5):
        progress("b", i, 4, f"step {i}")
    progress.finish()
    fractions = [e["fraction"] for e in events]
    assert fractions[0] == 0.0 and fractions[1] == pytest.approx(0.25) and fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)
    assert events[-1]["stage_index"] == 1 and events[-1]["stage_count"] == 2 and events[-1]["step"] == 4
    assert set(progress.timings) == {"a", "b"}


def test_progress_checks_cancel():
    cancel = CancelToken()
    progress = ProgressReporter((Stage("a", "A"),), lambda e: None, cancel)
    progress("a", 0, 2)
    cancel.set("stop now")
    with pytest.raises(Cancelled) as err:
        progress("a", 1, 2)
    assert err.value.code == "job.cancelled" and "stop now" in err.value.message


def test_unknown_stage_is_a_bug():
    with pytest.raises(ValueError):
        ProgressReporter((Stage("a", "A"),), lambda e: None)("b")


@pytest.mark.parametrize("bad", [{"engine": "magic"}, {"seed": -1}, {"height_m": 12}, {"texture_size": 1000},
                                 {"max_faces": 10}, {"device": "tpu"}, {"colour": "red"}, {"seed": "x"}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(SyncHumanError) as err:
        ReconstructSettings.from_dict(bad)
    assert err.value.code == "settings.invalid" and err.value.hint
