"""The scripts in scripts/ give a person's message, not a traceback, when they cannot start."""

import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("script", ["evaluate.py", "eye_region_contrast.py", "lid_components.py", "renderer_lid_curve.py",
                                    "splice_spasms.py"])
def test_a_missing_model_is_a_message_and_exit_code_2(script, tmp_path):
    env = {**os.environ, "SPASMCV_MODEL": str(tmp_path / "no_such_model.task"), "SPASMCV_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "no_such_model.task" in done.stderr
    assert "Traceback" not in done.stderr


def test_evaluate_refuses_settings_it_would_silently_ignore(tmp_path):
    """evaluate.py --set changes analysis settings only; a measure setting would not reach the
    cached traces, so it is refused with a message instead of being ignored."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), "--set", "measure.mirrored=true"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and "only analysis.* settings apply" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("change, message", [("no_such_setting=0.3,0.4", "expected KEY=V1,V2"),
                                             ("core_threshold=", "expected KEY=V1,V2"),
                                             ("core_threshold=0.3,low", "must be numbers or 'none'")])
def test_evaluate_refuses_a_grid_it_cannot_search(change, message, tmp_path):
    """evaluate.py --grid names an event setting and its values; anything else is a message."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), "--grid", change],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_splice_spasms_refuses_what_it_cannot_splice(model_info, tmp_path):
    """splice_spasms.py: no stretch to splice into, or a clip that is not a labelled clip with its
    video, is a message and exit 2, not a traceback."""
    script = str(REPO / "scripts" / "splice_spasms.py")
    env = {**os.environ, "SPASMCV_MODEL": str(model_info.path), "SPASMCV_OFFLINE": "1"}
    for args, message in ((["--seconds", "0"], "must be more than 0"), (["--clip", "nosuch"], "not a labelled clip")):
        done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
