"""2,000 seeded random and mutated lines against a real `synchuman serve --stdio` (10,000 in
benchmarks/hostile_probe.py): it never exits, answers every non-blank line, writes only JSON."""

from __future__ import annotations

from protocol_fuzz import fuzz_lines, run_fuzz


def test_fuzzed_lines_never_stop_the_service():
    report = run_fuzz(fuzz_lines(seed=13, count=2000))
    assert report["alive_at_end"], report["unanswered"][-1:]
    assert report["bad_stdout"] == []
    assert report["unanswered"] == []
    assert report["answered"] > 1900
    assert report["rc"] == 0
