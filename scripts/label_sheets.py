#!/usr/bin/env python
"""Pictures for labelling blinks by eye: eye-region contact sheets of every frame, zoomed strips
and whole-face frames, and a cross-check of the model's dips against finished labels.

How the real labels in ``labels/`` were made (labels/README.md has the convention):

1. ``sheets``: every frame of the video, both eyes side by side (image-left eye first, as the
   camera saw them), cropped around the MediaPipe **eye corners only** (never the lids, so a
   closing lid does not move the crop), rotated so the corners are level (head roll removed)
   and scaled to a fixed size, with the frame number on every cell. Each sheet stays under
   about 1,500 px wide and 1.2 megapixels, so an image viewer shows it unshrunk.
2. ``zoom START END``: the same crops 3-5x larger for the frames of one candidate.
3. ``faces F ...``: whole frames (head pose, gaze, expression).
4. ``crosscheck LABELS.csv``: only after labelling, every dip of the eye aspect ratio or of the
   eyeBlink blendshape that no label covers, to be looked at again.

The landmark pass is cached next to the pictures (``OUT/landmarks.npz``), so later calls are
quick. Nothing is written outside ``--out``; the video is only read.

Usage::

    python scripts/label_sheets.py VIDEO --out /tmp/sheets/clip sheets
    python scripts/label_sheets.py VIDEO --out /tmp/sheets/clip zoom 120 140 --scale 4
    python scripts/label_sheets.py VIDEO --out /tmp/sheets/clip faces 118 125 131
    python scripts/label_sheets.py VIDEO --out /tmp/sheets/clip crosscheck labels/clip.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spasmcv import extract_trace  # noqa: E402
from spasmcv.errors import SpasmcvError  # noqa: E402
from spasmcv.measure.video import iter_frames  # noqa: E402

#: Eye-corner landmarks (outer, inner) of the eye on the image's left and on its right.
IMAGE_LEFT_CORNERS = (33, 133)     # the person's right eye in an unmirrored video
IMAGE_RIGHT_CORNERS = (362, 263)   # the person's left eye
MAX_WIDTH_PX = 1500
MAX_PIXELS = 1_200_000
LABEL_H = 11


def landmark_pass(video: Path, out: Path) -> dict[str, np.ndarray]:
    """Eye corners (frames x 2 eyes x 2 corners x 2 coordinates, display px), EAR and blendshapes."""
    cache = out / "landmarks.npz"
    if cache.exists():
        return dict(np.load(cache))
    corners: dict[int, np.ndarray] = {}

    def keep(index, face):
        if face is not None:
            lm = face.landmarks_px[:, :2]
            corners[index] = np.stack([lm[list(IMAGE_LEFT_CORNERS)], lm[list(IMAGE_RIGHT_CORNERS)]])

    trace = extract_trace(video, on_face=keep)
    n = len(trace["time_s"])
    table = np.full((n, 2, 2, 2), np.nan)
    for index, value in corners.items():
        table[index] = value
    data = {"corners": table, "time_s": trace["time_s"],
            "ear_left": trace["ear_left"], "ear_right": trace["ear_right"],
            "blink_left": trace["bs_eyeBlink_left"], "blink_right": trace["bs_eyeBlink_right"],
            "look_down": np.nanmean([trace["bs_eyeLookDown_left"], trace["bs_eyeLookDown_right"]], axis=0),
            "yaw": trace["head_yaw_deg"], "pitch": trace["head_pitch_deg"]}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    return data


def _fill_and_smooth(values: np.ndarray, window: int = 5) -> np.ndarray:
    """Interpolate frames without a face and take a running median (steady crops)."""
    values = values.copy()
    idx = np.arange(len(values))
    good = np.isfinite(values)
    if not good.any():
        raise SystemExit("no face found in this video: nothing to crop")
    values[~good] = np.interp(idx[~good], idx[good], values[good])
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def crop_geometry(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and eye: crop centre (px), roll angle (radians) and eye width (px), smoothed."""
    centre = corners.mean(axis=2)                       # (n, 2 eyes, 2)
    delta = corners[:, :, 1] - corners[:, :, 0]
    # both eyes share one roll angle: the line through the two eyes' centres
    between = centre[:, 1] - centre[:, 0]
    angle = np.arctan2(between[:, 1], between[:, 0])
    width = np.hypot(delta[..., 0], delta[..., 1])
    centre = np.stack([np.stack([_fill_and_smooth(centre[:, e, k]) for k in range(2)], axis=-1)
                       for e in range(2)], axis=1)
    width = np.stack([_fill_and_smooth(width[:, e]) for e in range(2)], axis=1)
    return centre, _fill_and_smooth(angle), width


def eye_crop(rgb: np.ndarray, centre, angle: float, eye_width: float, size: tuple[int, int]) -> np.ndarray:
    """A level crop 1.8 eye widths wide around one eye, resized to ``size`` (w, h)."""
    out_w, out_h = size
    scale = out_w / (1.8 * eye_width)
    rot = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), np.degrees(angle), scale)
    rot[:, 2] += (out_w / 2 - centre[0], out_h / 2 - centre[1])
    return cv2.warpAffine(rgb, rot, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def cell(rgb, geometry, index: int, eye_size: tuple[int, int], note: str = "") -> np.ndarray:
    """Both eyes of one frame side by side with the frame number above them."""
    centre, angle, width = geometry
    eyes = [eye_crop(rgb, centre[index, e], angle[index], width[index, e], eye_size) for e in range(2)]
    gap = np.full((eye_size[1], 2, 3), 255, np.uint8)
    body = np.hstack([eyes[0], gap, eyes[1]])
    label = np.full((LABEL_H, body.shape[1], 3), 255, np.uint8)
    cv2.putText(label, f"{index}{note}", (1, LABEL_H - 2), cv2.FONT_HERSHEY_PLAIN, 0.7, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([label, body])


def tile(cells: list[np.ndarray], per_row: int) -> np.ndarray:
    """Cells in rows of ``per_row``, 2-px white borders."""
    h, w = cells[0].shape[:2]
    rows = []
    for start in range(0, len(cells), per_row):
        row = cells[start:start + per_row]
        row = row + [np.full_like(cells[0], 255)] * (per_row - len(row))
        rows.append(np.hstack([np.pad(c, ((2, 0), (2, 0), (0, 0)), constant_values=255) for c in row]))
    return np.vstack(rows)


def frames(video: Path, wanted: set[int] | None = None):
    for frame in iter_frames(video, max_side_px=None):
        if wanted is None or frame.index in wanted:
            yield frame.index, frame.rgb
        if wanted is not None and frame.index >= max(wanted):
            break


def save(image: np.ndarray, path: Path) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(path)


def make_sheets(video: Path, out: Path, data, *, eye_w: int, per_row: int | None) -> None:
    fps = 1.0 / np.median(np.diff(data["time_s"]))
    eye_size = (eye_w, int(round(eye_w * 0.6)))
    cell_w = 2 * eye_w + 2 + 2
    per_row = per_row or max(1, min(int(round(fps)), MAX_WIDTH_PX // cell_w))
    cell_h = eye_size[1] + LABEL_H + 2
    rows_per_sheet = max(1, min(MAX_PIXELS // (per_row * cell_w * cell_h), 40))
    per_sheet = rows_per_sheet * per_row
    geometry = crop_geometry(data["corners"])
    batch, first = [], 0
    for index, rgb in frames(video):
        batch.append(cell(rgb, geometry, index, eye_size))
        if len(batch) == per_sheet:
            save(tile(batch, per_row), out / f"sheet_{first:05d}-{index:05d}.png")
            batch, first = [], index + 1
    if batch:
        save(tile(batch, per_row), out / f"sheet_{first:05d}-{first + len(batch) - 1:05d}.png")
    print(f"{per_row} frames per row ({per_row / fps:.2f} s at {fps:.2f} frames/s)")


def make_zoom(video: Path, out: Path, data, start: int, end: int, *, scale: float) -> None:
    eye_w = int(round(60 * scale))
    eye_size = (eye_w, int(round(eye_w * 0.6)))
    per_row = max(1, MAX_WIDTH_PX // (2 * eye_w + 4))
    geometry = crop_geometry(data["corners"])
    cells = [cell(rgb, geometry, i, eye_size) for i, rgb in frames(video, set(range(start, end + 1)))]
    save(tile(cells, per_row), out / f"zoom_{start:05d}-{end:05d}.png")


def make_faces(video: Path, out: Path, indices: list[int]) -> None:
    pictures = {}
    for index, rgb in frames(video, set(indices)):
        h, w = rgb.shape[:2]
        scale = min(1.0, 480 / max(h, w))
        small = cv2.resize(rgb, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        cv2.putText(small, str(index), (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2, cv2.LINE_AA)
        pictures[index] = small
    cells = [pictures[i] for i in indices if i in pictures]
    per_row = max(1, MAX_WIDTH_PX // (cells[0].shape[1] + 2))
    save(tile(cells, per_row), out / f"faces_{'_'.join(str(i) for i in indices[:6])}.png")


def read_label_spans(path: Path) -> list[tuple[int, int]]:
    with open(path, newline="") as handle:
        return [(int(r["start_frame"]), int(r["end_frame"])) for r in csv.DictReader(handle)]


def crosscheck(data, labels: Path) -> None:
    """List every model dip (EAR below 80 % of its running open level, or eyeBlink > 0.3) not inside a label."""
    spans = read_label_spans(labels)
    covered = np.zeros(len(data["time_s"]), bool)
    for start, end in spans:
        covered[max(0, start - 1):end + 2] = True
    for side in ("left", "right"):
        ear = data[f"ear_{side}"]
        level = np.nanpercentile(ear, 75)
        dip = (ear < 0.8 * level) | (data[f"blink_{side}"] > 0.3)
        dip &= ~covered
        idx = np.flatnonzero(dip)
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if idx.size else []
        print(f"{side} eye (person's): open EAR level {level:.3f}; unlabelled dips:")
        for run in runs:
            a, b = int(run[0]), int(run[-1])
            print(f"  frames {a}-{b}: min EAR {np.nanmin(ear[a:b + 1]):.3f}, max eyeBlink "
                  f"{np.nanmax(data[f'blink_{side}'][a:b + 1]):.2f}, lookDown {np.nanmax(data['look_down'][a:b + 1]):.2f}, "
                  f"pitch {np.nanmean(data['pitch'][a:b + 1]):+.0f}, yaw {np.nanmean(data['yaw'][a:b + 1]):+.0f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the pictures (created)")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("sheets")
    p.add_argument("--eye-width", type=int, default=56, help="pixels per eye crop (default 56)")
    p.add_argument("--per-row", type=int, help="frames per row (default: one second, within 1,500 px)")
    p = sub.add_parser("zoom")
    p.add_argument("start", type=int)
    p.add_argument("end", type=int)
    p.add_argument("--scale", type=float, default=4.0)
    p = sub.add_parser("faces")
    p.add_argument("indices", type=int, nargs="+")
    p = sub.add_parser("crosscheck")
    p.add_argument("labels", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        data = landmark_pass(args.video, args.out)
        if args.what == "sheets":
            make_sheets(args.video, args.out, data, eye_w=args.eye_width, per_row=args.per_row)
        elif args.what == "zoom":
            make_zoom(args.video, args.out, data, args.start, args.end, scale=args.scale)
        elif args.what == "faces":
            make_faces(args.video, args.out, args.indices)
        else:
            crosscheck(data, args.labels)
    except SpasmcvError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
