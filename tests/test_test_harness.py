"""The test harness must fail loudly, not pass or skip: a service that writes non-JSON to stdout,
and a Blender suite run in CI where bpy does not import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service_driver import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]


def test_a_non_json_line_from_the_service_fails_the_test(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("print('stray output at start-up', flush=True)\n")
    svc = ServiceProcess(env={"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                                          os.environ.get("PYTHONPATH")]))})
    try:
        with pytest.raises(AssertionError, match="non-JSON.*stray output"):
            svc.wait_for(lambda e: e.get("type") == "hello", timeout=60)
    finally:
        svc.proc.kill()
        svc.proc.wait(10)


def test_the_blender_suite_fails_in_ci_without_bpy(tmp_path):
    (tmp_path / "bpy.py").write_text("raise ImportError('no bpy in this environment')\n")
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "blender" / "test_batch.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode not in (0, 5), proc.stdout[-2000:]  # 5: nothing collected, i.e. skipped
    assert "CI is set but bpy does not import" in proc.stdout + proc.stderr
