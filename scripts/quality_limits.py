"""Where does the eyelid measure stop being valid? Real labelled clips, made smaller, rolled, dimmed and slower.

Each labelled clip (``labels/``) is re-encoded at smaller sizes (face height in pixels),
rotated in the picture plane (head roll) and dimmed (pixel values scaled down), frame for
frame, so the hand labels still apply, or with one frame kept in k (a lower frame rate; the
detections are put back in the source's frame numbers), woven in pairs of frames into
interlaced video, or turned into a phone's HDR video. Every variant is extracted with the real model and
scored against the labels with the quality gate under test switched off, next to the EAR < 0.2
baseline on the same trace. ``--reencoded`` instead copies every labelled clip once in each way
of :data:`REENCODINGS` (at its own size, or smaller for the 480p copy) and compares what the
default pipeline reports with the original file's (test-retest). The per-frame limits in
:class:`spasmcv.analysis.quality.QualitySettings` (``min_iris_px``, ``max_roll_deg``,
``min_eye_region_grey_spread``, ``min_frame_rate_fps``) are read from these tables (docs/quality-limits.md).

    python scripts/quality_limits.py --cache /tmp/qlcache --markdown docs/quality-limits.md
    python scripts/quality_limits.py --cache /tmp/qlcache --turned /tmp/external   # turned faces
    python scripts/quality_limits.py --cache /tmp/qlcache --dimmed                 # darker and grainy pictures
    python scripts/quality_limits.py --cache /tmp/qlcache --frame-rates \
        --clips franck wolfgang fi_protagonist lp_d9 lp_d14                         # lower frame rates
    python scripts/quality_limits.py --cache /tmp/qlcache --interlaced --external /tmp/external \
        --clips franck wolfgang fi_protagonist lp_d9 lp_d14                         # interlaced video
    python scripts/quality_limits.py --cache /tmp/qlcache --hdr \
        --clips franck wolfgang fi_protagonist lp_d9 lp_d14                         # HDR video (PQ, HLG)
    python scripts/quality_limits.py --cache /tmp/qlcache --reencoded \
        --external /tmp/external                                                    # one re-encoding, all clips

Extraction takes about 10 minutes on two cores (the traces are cached in ``--cache``); ``--reencoded``
with ``--external`` about 50 (three copies of 69 clips).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spasmcv import extract_trace  # noqa: E402
from spasmcv.analysis.analyze import AnalysisSettings  # noqa: E402
from spasmcv.analysis.evaluation import (LabelledClosure, LabelSet, f1_from_counts, mostly_excluded,  # noqa: E402
                                         read_labels, real_clip_scores, score_frames, simple_ear_blinks)
from spasmcv.analysis.quality import frame_quality, open_fissure_px  # noqa: E402
from spasmcv.measure.extract import SIGNALS_VERSION  # noqa: E402
from spasmcv.measure.hdr import HLG_SYSTEM_GAMMA, REFERENCE_WHITE_NITS, SDR_GAMMA  # noqa: E402
from spasmcv.measure.model import resolve_model  # noqa: E402
from spasmcv.measure.trace import read_trace, write_trace  # noqa: E402
from spasmcv.measure.video import iter_frames, probe_video  # noqa: E402

from evaluate import EXTERNAL, LABELS, REAL, detect_real, external_clips, get_trace, grade_text  # noqa: E402

CLIPS = ["franck", "lp_d9", "wolfgang"]
SCALES = [1.0, 0.7, 0.5, 0.35, 0.25, 0.18]
ROLLS = [0, 20, 35, 50, 65, 90]


@dataclass(frozen=True)
class Reencoding:
    """One way a copy of a recording is made for the test-retest table: H.264 at ``crf``, frame
    for frame, the picture scaled down (never up) so that its shorter side is at most
    ``short_side_px`` (None: kept at its own size)."""

    name: str
    crf: int
    short_side_px: int | None = None

    def scale(self, width: int, height: int) -> float:
        """The factor a ``width`` x ``height`` picture is scaled by (1.0: unchanged)."""
        if self.short_side_px is None:
            return 1.0
        return min(1.0, self.short_side_px / min(width, height))


#: the copies of the test-retest table: a high-quality transcode (CRF 18), x264's default (CRF 23),
#: and a smaller, more compressed copy (shorter side at most 480 px, CRF 28), the kind a video may
#: become when it is sent on
REENCODINGS = (Reencoding("CRF 18", 18), Reencoding("CRF 23", 23), Reencoding("480p CRF 28", 28, 480))

#: Gates off: what the measure itself does at each size and roll.
NO_GATE = dict(min_iris_px=0.0, max_roll_deg=180.0, min_open_aperture_px=0.0, min_eye_region_grey_spread=0.0,
               min_frame_rate_fps=0.0)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def transform(rgb: np.ndarray, scale: float, roll_deg: float, brightness: float = 1.0, noise_sd: float = 0.0,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """The frame downscaled by ``scale``, rotated by ``roll_deg`` (canvas enlarged: nothing cut),
    its pixel values multiplied by ``brightness`` (a dimmed picture, as in a fade to black) and
    given Gaussian noise of ``noise_sd`` grey levels, every pixel and colour on its own (a camera
    amplifying a dim picture: the light it lacks comes back as grain)."""
    if brightness != 1.0 or noise_sd:
        out = rgb.astype(np.float32) * brightness
        if noise_sd:
            out += (rng or np.random.default_rng(0)).normal(0.0, noise_sd, size=out.shape).astype(np.float32)
        rgb = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    h, w = rgb.shape[:2]
    if scale != 1.0:
        rgb = cv2.resize(rgb, (_even(w * scale), _even(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
    if roll_deg:
        a = np.deg2rad(roll_deg)
        new_w, new_h = _even(abs(w * np.cos(a)) + abs(h * np.sin(a))), _even(abs(w * np.sin(a)) + abs(h * np.cos(a)))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), roll_deg, 1.0)
        matrix[:, 2] += ((new_w - w) / 2, (new_h - h) / 2)
        rgb = cv2.warpAffine(rgb, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    elif rgb.shape[0] % 2 or rgb.shape[1] % 2:
        rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    return rgb


def write_variant(source: Path, out: Path, scale: float, roll_deg: float, fps: float,
                  brightness: float = 1.0, crf: int = 14, noise_sd: float = 0.0, every: int = 1) -> None:
    """Re-encode ``source`` frame for frame (H.264 at ``crf``: 14 is near lossless; constant frame
    rate), or keeping one frame in ``every`` at ``fps / every`` (a camera filming at a lower rate);
    the noise is drawn anew for every frame, from a fixed seed."""
    rate = Fraction(fps / every).limit_denominator(1001)
    rng = np.random.default_rng(0)
    with av.open(str(out), "w") as container:
        stream = None
        for frame in iter_frames(source, max_side_px=None):
            if frame.index % every:
                continue
            image = transform(frame.rgb, scale, roll_deg, brightness, noise_sd, rng)
            if stream is None:
                stream = container.add_stream("libx264", rate=rate)
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuv420p"
                # one encoder thread: reproducible files (x264 with several varied run to run)
                stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def variant_trace(clip: dict, scale: float, roll: float, cache: Path, model, source: Path | None = None,
                  brightness: float = 1.0, crf: int = 14, noise_sd: float = 0.0, every: int = 1):
    name = f"{clip['clip']}_s{int(scale * 100)}_r{roll}" + (f"_e{every}" if every != 1 else "")
    name += (f"_b{int(round(brightness * 100))}" if brightness != 1.0 else "") + (f"_q{crf}" if crf != 14 else "")
    name += f"_n{noise_sd:g}" if noise_sd else ""
    source = source or REAL / clip["video"]
    return _cached_trace(cache, name, model, lambda video: write_variant(
        source, video, scale, roll, probe_video(source).measured_fps, brightness, crf, noise_sd, every))


def _cached_trace(cache: Path, name: str, model, write_video) -> object:
    """The trace of the variant ``name``: read from ``cache`` when spasmcv's signals version made
    it, else made: ``write_video(path)`` writes the variant there, it is extracted, the trace is
    kept and the video deleted."""
    path = cache / f"{name}.trace.csv"
    if path.exists():
        cached = read_trace(path)
        if cached.metadata.get("signals_version") == SIGNALS_VERSION:  # else extracted by an older spasmcv
            return cached
    video = cache / f"{name}.mp4"
    write_video(video)
    trace = extract_trace(video, model=model)
    write_trace(trace, path)
    video.unlink()
    return trace


def score(trace, clip: dict) -> tuple[dict, dict]:
    labels = read_labels(LABELS / f"{clip['clip']}.csv")
    fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
    settings = replace(AnalysisSettings(), quality=replace(AnalysisSettings().quality, **NO_GATE))
    spans, *_ = detect_real(trace, clip["task"], settings)
    return real_clip_scores(spans, labels, fps=fps), real_clip_scores(simple_ear_blinks(trace.columns), labels, fps=fps)


def _sums(rows: list[dict], *keys: str) -> tuple[int, ...]:
    """Each key's total over per-clip score rows (:func:`real_clip_scores`)."""
    return tuple(sum(r[k] for r in rows) for k in keys)


def _pool(rows: list[dict]) -> float:
    return f1_from_counts(*_sums(rows, "tp", "fp", "fn"), empty=float("nan"))


def table(title: str, variants: list[tuple[float, float]], clips: list[dict], cache: Path, model) -> list[str]:
    per_clip = " | ".join(f"{c['clip']}: iris px, open fissure px: F1 / baseline" for c in clips)
    lines = [f"### {title}", "", "| variant | median face px | median abs roll deg | valid frames | "
             f"labels | F1 spasmcv (gate off) | F1 EAR baseline | {per_clip} |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(clips)]
    for scale, roll in variants:
        ours_all, base_all, faces, irises, rolls, valid_n, n, cells = [], [], [], [], [], 0, 0, []
        for clip in clips:
            trace = variant_trace(clip, scale, roll, cache, model)
            ours, base = score(trace, clip)
            iris = trace["iris_reference_px"][trace["valid"].astype(bool)]
            cells.append(f"{np.nanmedian(iris) if np.isfinite(iris).any() else float('nan'):.1f}, "
                         f"{open_fissure_px(trace.columns, trace['valid'].astype(bool)):.1f}: {ours['f1']:.2f} / {base['f1']:.2f}")
            ours_all.append(ours)
            base_all.append(base)
            valid = trace["valid"].astype(bool)
            faces.append(trace["face_size_px"][valid])
            irises.append(trace["iris_reference_px"][valid])
            rolls.append(np.abs(trace["head_roll_deg"][valid]))
            valid_n += int(valid.sum())
            n += len(trace)
        cat = [np.concatenate(x) for x in (faces, irises, rolls)]
        med = [f"{np.nanmedian(x):.0f}" if np.isfinite(x).any() else "-" for x in cat]
        lines.append(f"| scale {scale:g}, roll {roll} deg | {med[0]} | {med[2]} | "
                     f"{valid_n / n:.0%} | {sum(r['labels'] for r in ours_all)} | "
                     f"**{_pool(ours_all):.3f}** | {_pool(base_all):.3f} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines + [""]


#: Dimmed variants: pixel values times these factors (a fade to black passes through them all),
#: encoded at x264's default quality, as ordinary recordings are: compression is what loses most
#: of a dark picture's detail.
BRIGHTNESS = [1.0, 0.4, 0.25, 0.2, 0.16, 0.13, 0.1, 0.06]
DIM_CRF = 23
#: Grainy variants: Gaussian noise of these standard deviations (grey levels), as a camera's gain
#: leaves in a dim room, encoded like the dimmed ones; and dark grainy ones (brightness, noise): a
#: camera whose gain could not make up for the light.
NOISE_SD = [0.0, 6.0, 12.0, 20.0, 30.0]
DARK_NOISE = [(0.16, 6.0), (0.1, 6.0)]


def brightness_table(clips: list[dict], cache: Path, model) -> list[str]:
    """Closures found and false ones as the picture gets darker, with the eye region's grey spread
    (trace column ``eye_region_grey_spread``) each brightness gives: where the quality gate's
    ``min_eye_region_grey_spread`` is read from."""
    return _picture_table("Dimmer pictures (pixel values scaled down, H.264 CRF 23)", "brightness",
                          [(f"{b:g}", {"brightness": b}) for b in BRIGHTNESS], clips, cache, model)


def noise_table(clips: list[dict], cache: Path, model) -> list[str]:
    """The same for grainy pictures (noise added): whether the grey spread, which grain raises,
    still flags a picture the lids cannot be read in."""
    variants = [(f"{sd:g}", {"noise_sd": sd}) for sd in NOISE_SD]
    variants += [(f"{sd:g}, brightness {b:g}", {"brightness": b, "noise_sd": sd}) for b, sd in DARK_NOISE]
    return _picture_table("Grainy pictures (Gaussian noise added, H.264 CRF 23)", "noise sd (grey levels)",
                          variants, clips, cache, model)


def _picture_table(title: str, what: str, variants: list[tuple[str, dict]], clips: list[dict], cache: Path,
                   model) -> list[str]:
    """One row per variant (a label and :func:`variant_trace`'s picture arguments), encoded at
    :data:`DIM_CRF`: the eye region's median grey spread, closures found and false, F1."""
    per_clip = " | ".join(f"{c['clip']}: spread: found / false" for c in clips)
    lines = [f"### {title}", "",
             f"| {what} | median eye-region grey spread (grey levels) | valid frames | labels | found / false "
             f"(gate off) | F1 spasmcv (gate off) | F1 EAR baseline | {per_clip} |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(clips)]
    for label, picture in variants:
        ours_all, base_all, spreads, valid_n, n, cells = [], [], [], 0, 0, []
        for clip in clips:
            trace = variant_trace(clip, 1.0, 0, cache, model, crf=DIM_CRF, **picture)
            ours, base = score(trace, clip)
            valid = trace["valid"].astype(bool)
            spread = trace["eye_region_grey_spread"][valid]
            cells.append(f"{np.nanmedian(spread):.0f}: {ours['tp']} / {ours['fp']}")
            ours_all.append(ours)
            base_all.append(base)
            spreads.append(spread)
            valid_n += int(valid.sum())
            n += len(trace)
        found, false = _sums(ours_all, "tp", "fp")
        lines.append(f"| {label} | {np.nanmedian(np.concatenate(spreads)):.0f} | {valid_n / n:.0%} | "
                     f"{sum(r['labels'] for r in ours_all)} | {found} / {false} | **{_pool(ours_all):.3f}** | "
                     f"{_pool(base_all):.3f} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines + [""]


#: Lower frame rates: one frame kept in each of these many (25 fps becomes 25, 12.5, 8.3, 6.25,
#: 5, 4.2 and 3.1 fps), as a camera filming at a lower rate (webcams fall to 15 or 7.5 fps in a dim
#: room), encoded like the size and roll variants.
EVERY = [1, 2, 3, 4, 5, 6, 8]


def _scored_row(first: list[str], ours_all: list[dict], base_all: list[dict], cells: list[str]) -> str:
    """A table row: the ``first`` cells, then labels, found / false and F1 for spasmcv and the
    baseline pooled over the clips, then each clip's ``cells``."""
    (found, false), (b_found, b_false) = _sums(ours_all, "tp", "fp"), _sums(base_all, "tp", "fp")
    return (f"| {' | '.join(first)} | {sum(r['labels'] for r in ours_all)} | {found} / {false} "
            f"| **{_pool(ours_all):.3f}** | {b_found} / {b_false} | {_pool(base_all):.3f} | {' | '.join(cells)} |")


def _in_source_frames(spans: list, every: float) -> list:
    """Detected spans of a variant keeping one frame in ``every``, in the source's frame numbers
    (``every`` 0.5: two trace rows per source frame, the fields of a frame coded interlaced)."""
    return [replace(s, start_frame=int(s.start_frame * every), end_frame=int(s.end_frame * every)) for s in spans]


def _source_frame_scores(trace, task: str, labels, every: float, settings: AnalysisSettings,
                         source_fps: float) -> tuple[dict, dict]:
    """spasmcv's and the baseline's scores on a variant whose trace row k is the source's frame
    ``k * every``, its detections put back in the source's frame numbers."""
    spans, *_ = detect_real(trace, task, settings)
    ours = real_clip_scores(_in_source_frames(spans, every), labels, fps=source_fps)
    base = real_clip_scores(_in_source_frames(simple_ear_blinks(trace.columns), every), labels, fps=source_fps)
    return ours, base


def frame_rate_table(clips: list[dict], cache: Path, model) -> list[str]:
    """Closures found and false ones as the frame rate falls: each variant's detections are put
    back in the source's frame numbers and scored against the source's labels (frames widened by
    2 source frames), so a blink that falls between two kept frames counts as missed, as it is
    missed in a recording made at that rate. ``seen``: labelled closures with a kept frame inside
    them (after the last open frame, before the first reopened one)."""
    per_clip = " | ".join(f"{c['clip']}: found / false" for c in clips)
    lines = ["### Lower frame rates (one frame kept in k, H.264 CRF 14)", "",
             "| one frame in | frames/s | labels | seen in a kept frame | found / false (gate off) "
             f"| F1 spasmcv (gate off) | found / false, baseline | F1 EAR baseline | {per_clip} |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(clips)]
    settings = replace(AnalysisSettings(), quality=replace(AnalysisSettings().quality, **NO_GATE))
    for every in EVERY:
        ours_all, base_all, cells, seen, rates = [], [], [], 0, []
        for clip in clips:
            labels = read_labels(LABELS / f"{clip['clip']}.csv")
            trace = variant_trace(clip, 1.0, 0, cache, model, every=every)
            rates.append(1.0 / float(np.median(np.diff(trace["time_s"]))))
            source_fps = rates[-1] * every
            ours, base = _source_frame_scores(trace, clip["task"], labels, every, settings, source_fps)
            seen += sum(-(-(r.start_frame + 1) // every) * every < r.end_frame for r in labels.closures
                        if not mostly_excluded(r.start_frame, r.end_frame, labels.excluded))
            cells.append(f"{ours['tp']} / {ours['fp']}")
            ours_all.append(ours)
            base_all.append(base)
        found, false = _sums(ours_all, "tp", "fp")
        b_found, b_false = _sums(base_all, "tp", "fp")
        lines.append(f"| {every} | {min(rates):.1f}-{max(rates):.1f} | {sum(r['labels'] for r in ours_all)} | {seen} "
                     f"| {found} / {false} | **{_pool(ours_all):.3f}** | {b_found} / {b_false} | {_pool(base_all):.3f} "
                     f"| {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines + [""]


def bits_per_pixel(trace) -> float:
    """The video file's size in bits per pixel per frame (from the trace's provenance)."""
    video = trace.metadata["video"]
    return video["size_bytes"] * 8 / (video["width"] * video["height"] * video["frame_count"])


def open_lid_jitter(trace, min_frames: int = 10) -> float:
    """How much the open eye's reading shakes from frame to frame: per eye, the median absolute
    second difference of the lid aperture (iris diameters) over three consecutive valid frames whose
    middle one reads at least 0.7 of the open level (the 90th percentile), over that open level;
    the mean of both eyes (NaN for an eye with fewer than ``min_frames`` such frames)."""
    valid = np.asarray(trace["valid"]) == 1
    per_eye = []
    for side in ("left", "right"):
        aperture = np.asarray(trace[f"aperture_iris_{side}"], dtype=float)
        ok = valid & np.isfinite(aperture)
        if ok.sum() < min_frames:
            continue
        open_level = float(np.quantile(aperture[ok], 0.9))
        middle = ok[1:-1] & ok[:-2] & ok[2:] & (aperture[1:-1] > 0.7 * open_level)
        if middle.sum() >= min_frames:
            second = np.abs(aperture[2:] - 2 * aperture[1:-1] + aperture[:-2]) / 2
            per_eye.append(float(np.median(second[middle])) / open_level)
    return float(np.mean(per_eye)) if per_eye else float("nan")


def _span(values: list[float], spec: str) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    low, high = f"{min(values):{spec}}", f"{max(values):{spec}}"
    return low if low == high else f"{low}-{high}"


def reencoded_table(clips: list[dict], cache: Path, model, title: str = "project clips",
                    copies: tuple[Reencoding, ...] = REENCODINGS) -> list[str]:
    """How far one re-encoding moves what spasmcv reports, with the default settings (quality gate
    on): each clip copied once in each of ``copies`` (:data:`REENCODINGS`: H.264 CRF 18, CRF 23, and
    a 480p copy at CRF 28), frame for frame, compared with the original file's detections (kept,
    lost, new; frames widened by 2, one-to-one, as closures are scored against labels) and labels,
    and its grade. This is the pipeline's own test-retest: the eyelids are the same frame for
    frame, only the pixels differ by what an encoder (and a smaller picture) changed. A clip may
    name its ``labels`` file and the ``cache_name`` of its traces (outside clips: labels/external/).
    Under the table, per copy, what might tell such a copy from its original: the file's
    :func:`bits_per_pixel` and the trace's :func:`open_lid_jitter`, over the copies whose grade moved
    and over those keeping exactly the original's detections."""
    lines = [f"### One re-encoding, {title}: default settings, quality gate on", "",
             "| clip | labels | original: found / false, F1, grade | "
             + " | ".join(f"{copy.name}: found / false, F1, grade | {copy.name}: detections kept / lost / new"
                          for copy in copies) + " |",
             "|---|---:|---|" + "---|---|" * len(copies)]
    settings = AnalysisSettings()
    totals = {copy: [0, 0, 0] for copy in copies}
    scores_all = {None: [], **{copy: [] for copy in copies}}
    grades_moved = {copy: [] for copy in copies}
    # what might flag a copy: (bits per pixel, times the original's; open-lid jitter, times the original's),
    # for the copies whose grade moved and those that keep exactly the original's detections
    flags = {copy: {"moved": [], "kept": []} for copy in copies}
    for clip in clips:
        labels = read_labels(clip.get("labels") or LABELS / f"{clip['clip']}.csv")
        cached = {**clip, "clip": clip.get("cache_name", clip["clip"])}
        source = REAL / clip["video"]
        size = probe_video(source)
        row, original = [], None
        for copy in (None, *copies):
            trace = (get_trace(source, cache, model, name=cached["clip"]) if copy is None
                     else variant_trace(cached, copy.scale(size.width, size.height), 0, cache, model, crf=copy.crf))
            fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
            spans, grade, *_ = detect_real(trace, clip["task"], settings)
            ours = real_clip_scores(spans, labels, fps=fps)
            scores_all[copy].append(ours)
            cell = f"{ours['tp']} / {ours['fp']}, {ours['f1']:.3f}, {grade_text(grade)}"
            if copy is None:
                original, original_grade, original_trace = spans, grade, trace
                row.append(cell)
                continue
            as_labels = LabelSet(clip["clip"], tuple(LabelledClosure(d.start_frame, d.end_frame, d.start_frame, True,
                                                                     "both") for d in original), labels.excluded)
            moved = score_frames(spans, as_labels)
            for k, n in enumerate((moved.tp, moved.fn, moved.fp)):
                totals[copy][k] += n
            if grade != original_grade:
                grades_moved[copy].append(f"{clip['clip']} {grade_text(original_grade)} -> {grade_text(grade)}")
            group = "moved" if grade != original_grade else "kept" if not (moved.fn or moved.fp) else None
            if group:
                flags[copy][group].append((bits_per_pixel(trace), bits_per_pixel(trace) / bits_per_pixel(original_trace),
                                           open_lid_jitter(trace) / open_lid_jitter(original_trace)))
            row += [cell, f"{moved.tp} / {moved.fn} / {moved.fp}"]
        lines.append(f"| {clip['clip']} | {scores_all[None][-1]['labels']} | " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    cells = [f"{sum(r['tp'] for r in scores_all[None])} / {sum(r['fp'] for r in scores_all[None])}, "
             f"{_pool(scores_all[None]):.3f}"]
    for copy in copies:
        cells += [f"{sum(r['tp'] for r in scores_all[copy])} / {sum(r['fp'] for r in scores_all[copy])}, "
                  f"{_pool(scores_all[copy]):.3f}", " / ".join(str(n) for n in totals[copy])]
    lines += [f"| **pooled** | {sum(r['labels'] for r in scores_all[None])} | "
              + " | ".join(cells) + " |", ""]
    for copy in copies:
        kept, lost, new = totals[copy]
        lines.append(f"- {copy.name}: {kept} of the original's {kept + lost} detections kept, {lost} lost, {new} new; "
                     f"grades that moved: {', '.join(grades_moved[copy]) or 'none'}.")
        for group, name in (("moved", "whose grade moved"), ("kept", "keeping exactly the original's detections")):
            found = flags[copy][group]
            if found:
                bits, bits_ratio, jitter_ratio = zip(*found)
                lines.append(f"  - {copy.name}, copies {name} ({len(found)}): {_span(bits, '.3f')} bits per pixel per "
                             f"frame, {_span(bits_ratio, '.2f')} times the original's; open-lid jitter "
                             f"{_span(jitter_ratio, '.2f')} times the original's.")
    return lines + [""]


def write_interlaced(source: Path, out: Path, flagged: bool = True, crf: int = 14, one_moment: bool = False) -> int:
    """``source`` as interlaced video at half its frame rate: frames 2k and 2k+1 woven into one
    frame, 2k as the bottom field (odd rows, first in time) and 2k+1 as the top field, so field
    n is the source's frame n and its hand labels apply. ``flagged``: H.264 coded as interlaced
    and flagged so, as a camcorder or broadcast recording is (FFmpeg's x264 takes the field order
    from the frame: PyAV's frames say bottom field first); else the same woven pictures coded as
    progressive frames, which is how spasmcv read interlaced video before signals ``eyelid-10``.
    ``one_moment``: every source frame coded as an interlaced frame, both fields from that one
    moment, at the source's rate (progressive segmented frames, as some camcorders and broadcast
    chains store progressive video). Returns the number of frames written."""
    written = 0
    with av.open(str(source)) as src, av.open(str(out), "w") as container:
        video = src.streams.video[0]
        stream = container.add_stream("libx264", rate=Fraction(video.average_rate) / (1 if one_moment else 2))
        stream.pix_fmt = "yuv420p"
        # one encoder thread: reproducible files (x264 with several varied run to run)
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1",
                          **({"flags": "+ildct+ilme"} if flagged else {})}
        first = None
        for index, frame in enumerate(src.decode(video)):
            rgb = frame.to_ndarray(format="rgb24")
            if one_moment:
                woven = rgb
            elif first is None:
                first = rgb
                continue
            else:
                woven = rgb.copy()
                woven[1::2] = first[1::2]
                first = None
            if written == 0:
                stream.width, stream.height = woven.shape[1], woven.shape[0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(woven, format="rgb24")):
                container.mux(packet)
            written += 1
        for packet in stream.encode():
            container.mux(packet)
    return written


#: Interlaced video, each read the way it is named: (label, source frames per trace row, how the
#: video is made). Field n of the woven frames is the source's frame n; in "one_moment" both
#: fields of frame n are the source's frame n (None: one row per frame unless the trace says it
#: was read field by field, then two).
INTERLACED = [("progressive, every frame (the source)", 1, "source"),
              ("progressive, one frame in two", 2, "every2"),
              ("interlaced, read as whole woven frames (before eyelid-10)", 2, "woven"),
              ("interlaced, deinterlaced field by field (eyelid-10)", 1, "interlaced"),
              ("progressive frames coded interlaced (both fields of one moment), as eyelid-10 reads them", None,
               "one_moment")]


def _interlaced_trace(clip: dict, how: str, cache: Path, model, source: Path):
    if how in ("source", "every2"):
        return variant_trace(clip, 1.0, 0, cache, model, source=source, every=1 if how == "source" else 2)
    return _cached_trace(cache, f"{clip['clip']}_{how}", model, lambda video: write_interlaced(
        source, video, flagged=how != "woven", one_moment=how == "one_moment"))


def interlaced_table(clips: list[dict], cache: Path, model, external: Path | None = None) -> list[str]:
    """Closures found and false ones in interlaced video made from real labelled clips (their
    fields 1/50-1/60 s apart for the 25-30 frames/s clips, 1/120 s for the 60 frames/s one; real
    interlaced video's are 1/50 or 1/60), read field by field, as whole woven frames, and next to
    the progressive source and one frame in two. Detections are put back in the source's frames
    and scored against its labels."""
    rows = [(c, LABELS / f"{c['clip']}.csv", REAL / c["video"]) for c in clips]
    if external is not None:
        with open(LABELS / "external" / "clips.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["clip"] in INTERLACED_EXTERNAL and (external / row["file"]).exists():
                    rows.append((row, LABELS / "external" / f"{row['clip']}.csv", external / row["file"]))
    per_clip = " | ".join(f"{c['clip']}: found / false" for c, _, _ in rows)
    lines = ["### Interlaced video (pairs of frames woven into one, H.264 CRF 14)", "",
             f"| read as | labels | found / false | F1 spasmcv | found / false, baseline | F1 EAR baseline | {per_clip} |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(rows)]
    for label, every, how in INTERLACED:
        ours_all, base_all, cells = [], [], []
        for clip, label_file, source in rows:
            labels = read_labels(label_file)
            trace = _interlaced_trace(clip, how, cache, model, source)
            per_row = every if every is not None else 0.5 if trace.metadata["video"].get("interlaced") else 1
            fps = per_row / float(np.median(np.diff(trace["time_s"])))
            ours, base = _source_frame_scores(trace, clip["task"], labels, per_row, AnalysisSettings(), fps)
            cells.append(f"{ours['tp']} / {ours['fp']}")
            ours_all.append(ours)
            base_all.append(base)
        lines.append(_scored_row([label], ours_all, base_all, cells))
        print(lines[-1], flush=True)
    return lines + [""]


#: Outside clips filmed at 50-60 frames/s (labels/external), woven too when their videos are given.
INTERLACED_EXTERNAL = ("vid2md", "myhumbleself")


#: Linear-light BT.709 RGB -> BT.2020 RGB (ITU-R BT.2087).
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
#: The standards' constants, written out again here on purpose: these encoders are the check on
#: spasmcv's decoders (spasmcv.measure.video), not a copy of them.
_PQ_M1, _PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
_PQ_C1, _PQ_C2, _PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
_HLG_A = 0.17883277
_HLG_B, _HLG_C = 1 - 4 * _HLG_A, 0.5 - _HLG_A * np.log(4 * _HLG_A)


def pq_signal(light: np.ndarray) -> np.ndarray:
    """Display light relative to reference white (203 cd/m2) -> PQ signal (SMPTE ST 2084 inverse EOTF)."""
    y = np.power(np.clip(light * REFERENCE_WHITE_NITS / 10000.0, 0.0, 1.0), _PQ_M1)
    return np.power((_PQ_C1 + _PQ_C2 * y) / (1 + _PQ_C3 * y), _PQ_M2)


def hlg_signal(light: np.ndarray) -> np.ndarray:
    """Display light relative to reference white -> HLG signal: scene light by the inverse
    system gamma, reference white at signal 0.75 (ITU-R BT.2408), then the OETF (BT.2100)."""
    white = (np.exp((0.75 - _HLG_C) / _HLG_A) + _HLG_B) / 12
    e = np.clip(white * np.power(np.maximum(light, 0.0), 1 / HLG_SYSTEM_GAMMA), 0.0, 1.0)
    return np.where(e <= 1 / 12, np.sqrt(3 * e), _HLG_A * np.log(np.maximum(12 * e - _HLG_B, 1e-12)) + _HLG_C)


def write_hdr(source: Path, out: Path, transfer: str, tagged: bool = True, brightness: float = 1.0,
              crf: int = 16) -> int:
    """``source`` (SDR) as a phone's HDR video would hold it, frame for frame: HEVC 10-bit,
    BT.2020 primaries and matrix, the ``transfer`` function "PQ" or "HLG"; SDR white put at HDR's
    reference white (ITU-R BT.2408's mapping of SDR into HDR), so the hand labels still apply.
    ``tagged`` False: the same pictures tagged as SDR (BT.709 transfer), which spasmcv reads
    without tone mapping, as every HDR video was read before signals ``eyelid-11``.
    ``brightness``: the source's pixel values scaled first, as :func:`transform` does (a dimmer
    room). Returns the number of frames written."""
    trc = {"PQ": "smpte2084", "HLG": "arib-std-b67"}[transfer] if tagged else "bt709"
    encode = pq_signal if transfer == "PQ" else hlg_signal
    written = 0
    with av.open(str(source)) as src, av.open(str(out), "w") as container:
        video = src.streams.video[0]
        stream = container.add_stream("libx265", rate=Fraction(video.average_rate))
        stream.pix_fmt = "yuv420p10le"
        # one thread pool and frame thread: reproducible files
        stream.options = {"crf": str(crf), "preset": "veryfast", "x265-params":
                          f"colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc:range=limited:pools=1:frame-threads=1"
                          ":log-level=error"}
        for frame in src.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
            if written == 0:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
            light = np.power(np.clip(np.rint(rgb * brightness), 0, 255) / 255.0, SDR_GAMMA) @ BT709_TO_BT2020.T
            picture = _bt2020_yuv420p10(encode(light))
            for packet in stream.encode(picture):
                container.mux(packet)
            written += 1
        for packet in stream.encode():
            container.mux(packet)
    return written


def _bt2020_yuv420p10(rgb: np.ndarray) -> av.VideoFrame:
    """R'G'B' signal (0-1, even height and width) as a limited-range 10-bit 4:2:0 picture with
    BT.2020's non-constant-luminance matrix (chroma averaged over 2x2 pixels), computed here
    rather than by FFmpeg, which PyAV 14-17 let use BT.601's matrix instead."""
    kr, kb = 0.2627, 0.0593
    luma = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    blue, red = (rgb[..., 2] - luma) / (2 - 2 * kb), (rgb[..., 0] - luma) / (2 - 2 * kr)
    h, w = luma.shape
    picture = av.VideoFrame(w, h, "yuv420p10le")
    for plane, values, offset, scale in zip(picture.planes, (luma, blue, red), (64, 512, 512), (876, 896, 896)):
        if values is not luma:
            values = values.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        rows = np.zeros((values.shape[0], plane.line_size // 2), np.uint16)
        rows[:, : values.shape[1]] = np.clip(np.rint(offset + scale * values), 0, 1023)
        plane.update(rows.tobytes())
    picture.color_range, picture.colorspace = 1, 9
    return picture


#: HDR video, each read the way it is named: (label, how the video is made, brightness).
HDR = [("SDR, the source (H.264 CRF 14)", "source", 1.0),
       ("HLG, read as SDR (before eyelid-11)", "hlg_as_sdr", 1.0),
       ("HLG, tone-mapped (eyelid-11)", "hlg", 1.0),
       ("PQ, read as SDR (before eyelid-11)", "pq_as_sdr", 1.0),
       ("PQ, tone-mapped (eyelid-11)", "pq", 1.0),
       ("dimmer room (pixel values x 0.4): SDR", "source", 0.4),
       ("dimmer room: PQ, read as SDR (before eyelid-11)", "pq_as_sdr", 0.4),
       ("dimmer room: PQ, tone-mapped (eyelid-11)", "pq", 0.4)]


def _hdr_trace(clip: dict, how: str, brightness: float, cache: Path, model, source: Path):
    if how == "source":
        return variant_trace(clip, 1.0, 0, cache, model, source=source, brightness=brightness)
    name = f"{clip['clip']}_{how}" + (f"_b{int(round(brightness * 100))}" if brightness != 1.0 else "")
    return _cached_trace(cache, name, model, lambda video: write_hdr(
        source, video, how.split("_")[0].upper(), tagged=not how.endswith("_as_sdr"), brightness=brightness))


def hdr_table(clips: list[dict], cache: Path, model) -> list[str]:
    """Closures found and false ones in HDR video made from real labelled clips (:func:`write_hdr`),
    read as SDR and tone-mapped, next to the SDR source; with each variant's median grey level
    and eye-region grey spread (the dark-picture gate's measure)."""
    rows = [(c, LABELS / f"{c['clip']}.csv", REAL / c["video"]) for c in clips]
    per_clip = " | ".join(f"{c['clip']}: found / false" for c, _, _ in rows)
    lines = ["### HDR video (HEVC 10-bit, BT.2020, SDR white at reference white)", "",
             "| video, read as | median eye-region grey spread (grey levels) | labels | found / false | F1 spasmcv "
             f"| found / false, baseline | F1 EAR baseline | {per_clip} |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(rows)]
    for label, how, brightness in HDR:
        ours_all, base_all, cells, spreads = [], [], [], []
        for clip, label_file, source in rows:
            labels = read_labels(label_file)
            trace = _hdr_trace(clip, how, brightness, cache, model, source)
            fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
            ours, base = _source_frame_scores(trace, clip["task"], labels, 1, AnalysisSettings(), fps)
            spreads.append(np.nanmedian(trace["eye_region_grey_spread"]))
            cells.append(f"{ours['tp']} / {ours['fp']}")
            ours_all.append(ours)
            base_all.append(base)
        lines.append(_scored_row([label, f"{np.median(spreads):.0f}"], ours_all, base_all, cells))
        print(lines[-1], flush=True)
    return lines + [""]


#: Outside clips in three-quarter view (labels/external) and the scales that bring their turned
#: faces' iris to about 14-28, 8, 6 and 4 px.
TURNED = {"violin_interview": [1.0, 0.6, 0.45, 0.3, 0.22], "shortsmaker": [1.0, 0.28, 0.2, 0.14, 0.1]}


def turned_table(videos: Path, cache: Path, model) -> list[str]:
    """What measuring a turned head's near eye (quality ``near_eye_only``) adds and costs as the
    face gets smaller: each clip of :data:`TURNED` with the near eye measured and without it
    (every other gate as in :data:`NO_GATE`), closures found and false ones."""
    with open(LABELS / "external" / "clips.csv", newline="") as handle:
        rows = {r["clip"]: r for r in csv.DictReader(handle)}
    base = AnalysisSettings()
    near = replace(base, quality=replace(base.quality, **NO_GATE, min_near_eye_iris_px=0.0))
    frontal = replace(near, quality=replace(near.quality, max_near_eye_yaw_deg=None))
    lines = ["### Turned faces, smaller: the near eye", "",
             "| clip | scale | median iris px, turned frames | labels | found / false, both eyes only (30 degrees) "
             f"| found / false, near eye to {near.quality.max_near_eye_yaw_deg:g} degrees | near eye adds: found / false |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, scales in TURNED.items():
        row, video = rows[name], videos / rows[name]["file"]
        if not video.exists():
            print(f"{video} not found: {name} skipped", file=sys.stderr)
            continue
        labels = read_labels(LABELS / "external" / f"{name}.csv")
        for scale in scales:
            trace = variant_trace(row, scale, 0, cache, model, source=video)
            fps = 1.0 / float(np.median(np.diff(trace["time_s"])))
            found = {}
            for key, settings in (("frontal", frontal), ("near", near)):
                spans, *_ = detect_real(trace, row["task"], settings)
                found[key] = real_clip_scores(spans, labels, fps=fps)
            turned = frame_quality(trace.columns, near.quality).reason == "near_eye_only"
            iris = float(np.nanmedian(trace["iris_reference_px"][turned])) if turned.any() else float("nan")
            a, b = found["frontal"], found["near"]
            lines.append(f"| {name} | {scale:g} | {iris:.1f} | {b['labels']} | {a['tp']} / {a['fp']} | {b['tp']} / {b['fp']} "
                         f"| {b['tp'] - a['tp']:+d} / {b['fp'] - a['fp']:+d} |")
            print(lines[-1], flush=True)
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="folder for the variants' traces")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--clips", nargs="*")
    parser.add_argument("--extract-only", action="store_true", help="only make the variants' traces")
    parser.add_argument("--turned", type=Path, metavar="VIDEOS",
                        help="only the turned-faces table, from the outside clips' videos in VIDEOS "
                             "(scripts/fetch_external_clips.py)")
    parser.add_argument("--dimmed", action="store_true", help="only the dimmer- and grainy-pictures tables")
    parser.add_argument("--frame-rates", action="store_true", help="only the lower-frame-rates table")
    parser.add_argument("--interlaced", action="store_true",
                        help="only the interlaced-video table (with --external, also its 50-60 frames/s outside clips)")
    parser.add_argument("--hdr", action="store_true", help="only the HDR-video table")
    parser.add_argument("--reencoded", action="store_true",
                        help="only the one-re-encoding (test-retest) table, default settings; all labelled clips "
                             "unless --clips")
    parser.add_argument("--external", type=Path, metavar="VIDEOS",
                        help="the outside clips' videos, for --interlaced and --reencoded")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.turned:
        text = "\n".join(turned_table(args.turned, args.cache, resolve_model(None)))
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    with open(LABELS / "clips.csv", newline="") as handle:
        wanted = args.clips or (None if args.reencoded else CLIPS)
        clips = [r for r in csv.DictReader(handle) if (wanted is None or r["clip"] in wanted)
                 and (REAL / r["video"]).exists()]
    if not clips:
        print(f"none of the clips {wanted or 'in labels/clips.csv'} found under {REAL}", file=sys.stderr)
        return 1
    model = resolve_model(None)
    if args.interlaced:
        text = "\n".join(interlaced_table(clips, args.cache, model, args.external))
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    if args.reencoded:
        lines = reencoded_table(clips, args.cache, model)
        if args.external:
            found, problems = external_clips(args.external)
            outside = [{"clip": info["clip"], "video": str(video), "task": info["task"],
                        "labels": EXTERNAL / f"{info['clip']}.csv", "cache_name": f"external_{info['clip']}"}
                       for info, video in found]
            lines += reencoded_table(outside, args.cache, model, "outside clips (labels/external/)")
            lines += [f"Not scored: {problem}" for problem in problems]
        text = "\n".join(lines)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    if args.hdr:
        text = "\n".join(hdr_table(clips, args.cache, model))
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    if args.dimmed or args.frame_rates:
        tables = (brightness_table(clips, args.cache, model) + noise_table(clips, args.cache, model)
                  if args.dimmed else [])
        tables += frame_rate_table(clips, args.cache, model) if args.frame_rates else []
        text = "\n".join(tables)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    if args.extract_only:
        for scale, roll in [(s, 0) for s in SCALES] + [(1.0, r) for r in ROLLS[1:]]:
            for clip in clips:
                variant_trace(clip, scale, roll, args.cache, model)
                print(f"extracted {clip['clip']} scale {scale} roll {roll}", flush=True)
        for picture in ([{"brightness": b} for b in BRIGHTNESS] + [{"noise_sd": sd} for sd in NOISE_SD[1:]]
                        + [{"brightness": b, "noise_sd": sd} for b, sd in DARK_NOISE]):
            for clip in clips:
                variant_trace(clip, 1.0, 0, args.cache, model, crf=DIM_CRF, **picture)
                print(f"extracted {clip['clip']} {picture}", flush=True)
        return 0
    lines = ["## Limits of the eyelid measure on real labelled video", "",
             f"Clips: {', '.join(c['clip'] for c in clips)} (every labelled closure; pooled F1, frames widened by 2, "
             "one-to-one). Each variant re-encoded frame for frame (H.264, CRF 14), extracted with the official "
             "model, analysed with the size, fissure and roll gates switched off. Produced by `scripts/quality_limits.py`.", ""]
    lines += table("Smaller faces (downscaled)", [(s, 0) for s in SCALES], clips, args.cache, model)
    lines += table("Head roll (picture rotated)", [(1.0, r) for r in ROLLS], clips, args.cache, model)
    lines += brightness_table(clips, args.cache, model) + noise_table(clips, args.cache, model)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
