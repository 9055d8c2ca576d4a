"""Video input: probe a file and stream its frames with their own timestamps.

This is the only module that opens video files. It uses PyAV (FFmpeg) because spasmcv needs
what OpenCV's ``VideoCapture`` hides or guesses: each frame's presentation timestamp from the
container (never an assumed constant frame rate), the display rotation of phone videos, the
codec, and decoding straight into RGB in one conversion.

Times are in seconds, relative to the first frame's presentation time (the first frame is at
0 s). Frame sizes are *display* sizes, i.e. after rotation.
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from spasmcv.errors import VideoError
from spasmcv.measure import hdr
from spasmcv.measure.trace import MAX_FRAME_GAP_S

#: File name suffixes taken for videos when searching folders or naming outputs.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                            ".mts", ".m2ts", ".ts", ".dv", ".mxf", ".vob"})   # camcorders (AVCHD, DV), broadcast
#: A frame interval this many times the median interval counts as a dropped-frame gap.
GAP_FACTOR = 1.5
#: Intervals deviating from the median by more than this fraction count as irregular.
IRREGULAR_TOLERANCE = 0.10
#: The video is called variable-frame-rate when more than this share of intervals is irregular.
VFR_SHARE = 0.01


#: Size (width, height) of the grey thumbnail compared between frames to find hard cuts, px.
CUT_THUMBNAIL_SIZE = (64, 36)
#: A hard cut: the frame differs from the one before by more than this (mean absolute grey level
#: difference of the thumbnails, 0-255)...
CUT_MIN_DIFFERENCE = 20.0
#: ...and by this many times the median difference of the ``CUT_WINDOW`` frames before...
CUT_RATIO = 5.0
CUT_WINDOW = 10


@dataclass(frozen=True)
class FrameGap:
    """A stretch where frames are missing: ``(start_s, end_s)`` and the estimated number lost."""

    start_s: float
    end_s: float
    missing_frames: int


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, from its header and one pass over its packets (no decoding).

    Attributes
    ----------
    container, codec : str
        FFmpeg's names, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"`` and ``"h264"``.
    width, height : int
        Display size in pixels, after applying ``sample_aspect_ratio`` and ``rotation_deg``.
    coded_width, coded_height : int
        Size of the stored (unrotated) pictures.
    rotation_deg : int
        Clockwise rotation (0, 90, 180, 270) applied to stored pictures for display.
    frame_count : int
        Pictures to measure: the frames found in the container (packets with a timestamp),
        twice as many for interlaced video (one per field).
    header_frame_count : int or None
        Frame count declared by the header, if any.
    duration_s : float
        Time from the first to the last frame plus one median frame interval.
    nominal_fps : float or None
        Frame rate declared by the container (None if it declares none).
    measured_fps : float
        ``1 / mean frame interval`` from the frames' timestamps, gaps left out
        (:func:`measured_rate`); pictures measured per second, so twice the frame rate for
        interlaced video (fields per second).
    variable_frame_rate : bool
        True when more than 1 % of the intervals differ from the median by more than 10 %.
    gaps : tuple of FrameGap
        Intervals longer than 1.5 median intervals (dropped frames).
    pixel_format : str
    sample_aspect_ratio : float
        Width of a stored pixel relative to its height (1.0: square pixels); frames are
        stretched to it before measurement (:func:`iter_frames`).
    interlaced : bool
        The first frame is flagged interlaced and the frames show two moments
        (:func:`fields_differ`): each weaves two fields filmed half a frame interval apart.
        Measured field by field, deinterlaced (:data:`DEINTERLACER`). Progressive frames coded
        as interlaced are not: they are read as they are.
    other_video_streams : tuple of str
        The file's other video streams ("#index WxH codec"; cover pictures left out), not
        measured: only the one a player shows by default is.
    hdr : str or None
        "PQ" or "HLG" for high-dynamic-range video (phones' HDR modes), whose pictures are
        tone-mapped to SDR before they are measured (:func:`_to_sdr`); None for SDR video.
    """

    container: str
    codec: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation_deg: int
    frame_count: int
    header_frame_count: int | None
    duration_s: float
    nominal_fps: float | None
    measured_fps: float
    variable_frame_rate: bool
    gaps: tuple[FrameGap, ...] = field(default_factory=tuple)
    pixel_format: str = ""
    sample_aspect_ratio: float = 1.0
    interlaced: bool = False
    other_video_streams: tuple[str, ...] = ()
    hdr: str | None = None

    def shown_size(self, turn_deg: int = 0) -> tuple[int, int]:
        """Display width and height (px) of the picture turned clockwise by a further ``turn_deg``
        (:func:`iter_frames`' ``turn_deg``): 90 and 270 swap them."""
        return (self.height, self.width) if turn_deg in (90, 270) else (self.width, self.height)

    def as_dict(self) -> dict:
        """Plain-JSON view (gaps as lists)."""
        out = dict(self.__dict__)
        out["gaps"] = [[g.start_s, g.end_s, g.missing_frames] for g in self.gaps]
        return out


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        0-based position in presentation order.
    time_s : float
        Presentation time relative to the first frame, in seconds.
    rgb : numpy.ndarray
        ``(height, width, 3)`` uint8 RGB, C-contiguous, rotated for display and possibly
        downscaled (see :func:`iter_frames`).
    scale : float
        Size of ``rgb`` relative to the display size (1.0 = full resolution).
    """

    index: int
    time_s: float
    rgb: np.ndarray
    scale: float


def _reason(exc: Exception) -> str:
    """What went wrong, in FFmpeg's words, without its error number and the path again."""
    return getattr(exc, "strerror", None) or str(exc)


#: Top-level boxes of an MP4/MOV (ISO base media) file that may come before its media data.
_MP4_TOP_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin", b"meta",
                            b"moof", b"mfra", b"sidx", b"styp", b"pnot", b"PICT", b"junk"})


def _mp4_without_index(path: Path) -> bool:
    """Whether ``path`` is an MP4/MOV whose top-level boxes hold media data ('mdat') but no index
    ('moov'): a recording interrupted before the index, written last, was saved. Reads box headers
    only (16 bytes each)."""
    seen = set()
    try:
        with open(path, "rb") as file:
            size_total = os.fstat(file.fileno()).st_size
            offset = 0
            while offset + 8 <= size_total and len(seen) < 64:
                file.seek(offset)
                header = file.read(16)
                size, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if kind not in _MP4_TOP_BOXES or (offset == 0 and kind not in (b"ftyp", b"mdat", b"wide", b"free")):
                    return False
                seen.add(kind)
                if size == 1 and len(header) == 16:
                    size = int.from_bytes(header[8:16], "big")
                if size == 0 or size < 8:   # "to the end of the file", or damaged: stop here
                    break
                offset += size
    except OSError:
        return False
    return b"mdat" in seen and b"moov" not in seen and b"moof" not in seen


def _open(path: Path):
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.EOFError as exc:
        raise VideoError(f"{path}: ends before any video data (zero frames, or a truncated file)") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        if _mp4_without_index(path):
            raise VideoError(f"{path}: an MP4/MOV recording without its index (no 'moov' box): it was cut off "
                             "before the phone or camera finished writing it (battery or storage ran out, or a "
                             "copy stopped early). Its pictures are in the file but cannot be located; repair "
                             "tools that borrow the index of another recording from the same device can sometimes "
                             "recover it") from exc
        raise VideoError(f"{path}: not a readable video file ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video frames (no video stream, or an empty one)")
    return container


#: FFmpeg's stream disposition of a cover picture or thumbnail stored as a video stream.
_ATTACHED_PICTURE = 0x400


def _describe_others(others: list, packets: dict[int, int]) -> tuple[str, ...]:
    """Other video streams that hold a recording ("#index WxH codec"): more than one frame and
    not flagged as a cover picture (a one-frame stream is a cover or a thumbnail)."""
    def cover(stream) -> bool:   # PyAV 14-17 give the disposition as a flag enum, 18 as an int enum
        return bool(getattr(stream.disposition, "value", stream.disposition) & _ATTACHED_PICTURE)

    return tuple(f"#{s.index} {s.codec_context.width}x{s.codec_context.height} {s.codec_context.name}"
                 for s in others if packets.get(s.index, 0) > 1 and not cover(s))


def _video_stream(container):
    """The video stream a player shows: FFmpeg's choice, which passes over a cover picture or
    thumbnail stored as a video stream (an MKV's or MP4's "attached picture") before the video."""
    try:
        return container.streams.best("video") or container.streams.video[0]
    except (ValueError, av.error.FFmpegError):
        return container.streams.video[0]


def frame_intervals_summary(times_s: np.ndarray) -> tuple[float, bool, tuple[FrameGap, ...]]:
    """Median interval, variable-frame-rate flag and dropped-frame gaps of sorted timestamps.

    Parameters
    ----------
    times_s : ndarray
        Frame presentation times in seconds, increasing.

    Returns
    -------
    median_interval_s, variable_frame_rate, gaps
    """
    times_s = np.asarray(times_s, dtype=float)
    if times_s.size < 2:
        return float("nan"), False, ()
    intervals = np.diff(times_s)
    median = float(np.median(intervals))
    if not median > 0:
        return float("nan"), True, ()
    irregular = np.abs(intervals - median) > IRREGULAR_TOLERANCE * median
    vfr = bool(irregular.mean() > VFR_SHARE)
    gaps = tuple(
        FrameGap(float(times_s[i]), float(times_s[i + 1]), int(round(intervals[i] / median)) - 1)
        for i in np.flatnonzero(intervals > GAP_FACTOR * median)
    )
    return median, vfr, gaps


def measured_rate(times_s: np.ndarray, median_interval_s: float) -> float:
    """Frames per second: 1 / the mean interval between frames, intervals over
    :data:`GAP_FACTOR` times the median (dropped frames, pauses) left out. The mean, not the
    median: timestamps rounded to whole milliseconds (Matroska, WebM) alternate 16 and 17 ms at
    60 frames/s, whose median gave 58.8."""
    intervals = np.diff(np.asarray(times_s, dtype=float))
    regular = intervals[(intervals > 0) & (intervals <= GAP_FACTOR * median_interval_s)]
    return float(1.0 / regular.mean()) if regular.size else float(1.0 / median_interval_s)


def _clockwise_rotation(frame: av.VideoFrame) -> int:
    # PyAV reports FFmpeg's display-matrix angle (counter-clockwise); players rotate the
    # picture clockwise by its negation (an upright iPhone portrait clip reads -90).
    angle = int(round(-float(frame.rotation))) % 360
    return angle if angle in (0, 90, 180, 270) else 0


#: Sample aspect ratios outside this range are taken for broken metadata and ignored (square
#: pixels assumed); the usual ones run from 10/11 (NTSC DV, 4:3) to 3/2 (DVCPRO HD).
_SANE_SAMPLE_ASPECT = (0.25, 4.0)
#: Pixels within this fraction of square are taken as square: stretching by under 1 % moves an eye
#: (at most about 100 px wide) by under a pixel, while resampling the picture would blur it.
_SQUARE_ENOUGH = 0.01


def sample_aspect_ratio(stream) -> float:
    """Width of a stored pixel relative to its height, as the player shows it (1.0 for square
    pixels): the container's value, else the codec's. Anamorphic video (DV, some webcams and
    phone exports) stores a picture narrower or wider than it is shown; the face mesh must see
    the shown shape, or the eyes' proportions and the iris ruler are off (a 16:9 webcam clip
    stored at 640x480 with pixels 4/3 wide)."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if value and value.numerator > 0 and value.denominator > 0:
            ratio = float(value)
            sane = _SANE_SAMPLE_ASPECT[0] <= ratio <= _SANE_SAMPLE_ASPECT[1]
            return ratio if sane and abs(ratio - 1.0) >= _SQUARE_ENOUGH else 1.0
    return 1.0


def _header_facts(container, stream) -> tuple[float | None, int | None, float | None]:
    """What the container header declares: duration (s), frame count and nominal frame rate."""
    declared_s = None
    if stream.duration:
        declared_s = float(stream.duration * stream.time_base)
    elif container.duration and len(container.streams) == 1:
        declared_s = container.duration / 1e6
    rate = stream.average_rate or stream.guessed_rate
    return declared_s, int(stream.frames) or None, float(rate) if rate else None


def estimated_frame_count(path: str | os.PathLike) -> int:
    """Frames the container header declares (or duration x frame rate); 0 when unknown or
    unreadable. Reads the header only: for progress bars, not for measurements."""
    try:
        container = _open(Path(path))
    except VideoError:
        return 0
    try:
        stream = _video_stream(container)
        declared_s, frames, fps = _header_facts(container, stream)
        # interlaced (FFmpeg's field order 2-5; PyAV 18 reads it from the header): a picture per field
        fields = 2 if getattr(stream.codec_context, "field_order", 0) >= 2 else 1
    finally:
        container.close()
    return fields * (frames or (int(round(declared_s * fps)) if declared_s and fps else 0))


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header and packet timestamps, and decode its first frame.

    Raises
    ------
    VideoError
        Not found, empty, not a video, no decodable frame, or truncated (fewer frames than
        the header declares).
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = _video_stream(container)
        others = [s for s in container.streams.video if s.index != stream.index]
        pts: list[int] = []
        untimed = 0
        other_packets: dict[int, int] = {}
        try:
            for packet in container.demux(stream, *others):
                if packet.stream.index != stream.index:
                    other_packets[packet.stream.index] = other_packets.get(packet.stream.index, 0) + (packet.size > 0)
                elif packet.pts is not None and packet.size > 0:
                    pts.append(packet.pts)
                elif packet.dts is not None and packet.size > 0:
                    pts.append(packet.dts)
                elif packet.size > 0:
                    untimed += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: truncated or corrupt video data after {len(pts)} frames ({_reason(exc)})") from exc
        if not pts and untimed:
            raise VideoError(
                f"{path}: a raw {stream.codec_context.name} stream without timestamps ({untimed} frames): the rate "
                f"it was filmed at is not in the file, so no duration can be measured; put it in a container at "
                f"that rate, e.g. 'ffmpeg -framerate 30 -i {path.name} -c copy {path.stem}.mp4' for 30 frames/s")
        if not pts:
            raise VideoError(f"{path}: the video stream holds zero frames")
        # Read everything from the stream before closing: PyAV's fields are invalid afterwards.
        if container.format.name in _STILL_IMAGE_FORMATS or container.format.name.endswith("_pipe"):
            raise VideoError(f"{path}: is a still image ({container.format.name}), not a video")
        declared_s, header_frames, nominal = _header_facts(container, stream)
        pixel_aspect = sample_aspect_ratio(stream)
        time_base = float(stream.time_base) if stream.time_base else 0.0
        container_name = container.format.name
        codec_name = stream.codec_context.name
        stream_trc = stream.codec_context.color_trc
        others = _describe_others(others, other_packets)
    finally:
        container.close()

    first = _first_frame(path)
    times = np.sort(np.asarray(pts, dtype=np.int64))
    times_s = (times - times[0]) * time_base
    median, vfr, gaps = frame_intervals_summary(times_s)
    jump = np.flatnonzero(np.diff(times_s) > MAX_FRAME_GAP_S)
    if jump.size:   # refused before anything is decoded: the analysis could not time such frames
        k = int(jump[0]) + 1
        raise VideoError(f"{path}: the frame times jump from {times_s[k - 1]:.2f} s to {times_s[k]:.0f} s after "
                         f"frame {k - 1}, more than {MAX_FRAME_GAP_S / 3600:g} h between two frames: a broken clock "
                         "in the file, not a pause; re-encode it at a constant frame rate (for example "
                         "ffmpeg -i IN -fps_mode cfr OUT.mp4)")
    if header_frames and len(pts) < header_frames - 1:
        raise VideoError(
            f"{path}: truncated video: the header declares {header_frames} frames but only "
            f"{len(pts)} are present"
        )
    if declared_s and np.isfinite(median) and times_s[-1] + median < declared_s - max(0.5, 2 * median):
        raise VideoError(
            f"{path}: truncated video: the header declares {declared_s:.2f} s but frames "
            f"stop at {times_s[-1]:.2f} s"
        )
    rotation = _clockwise_rotation(first)
    coded_w, coded_h = first.width, first.height
    shown_w = int(round(coded_w * pixel_aspect))
    disp_w, disp_h = (coded_h, shown_w) if rotation in (90, 270) else (shown_w, coded_h)
    interval = median if np.isfinite(median) else (1.0 / nominal if nominal else 0.0)
    interlaced = is_interlaced(first) and fields_differ(path)
    per_frame = 2 if interlaced else 1  # pictures measured per frame: one per field when interlaced
    rate = measured_rate(times_s, median) if np.isfinite(median) else (nominal or float("nan"))
    return VideoInfo(
        container=container_name,
        codec=codec_name,
        width=disp_w,
        height=disp_h,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation_deg=rotation,
        frame_count=len(pts) * per_frame,
        header_frame_count=header_frames,
        duration_s=float(times_s[-1] + interval),
        nominal_fps=nominal,
        measured_fps=rate * per_frame,
        variable_frame_rate=vfr,
        gaps=gaps,
        pixel_format=first.format.name,
        sample_aspect_ratio=pixel_aspect,
        interlaced=interlaced,
        other_video_streams=others,
        hdr=hdr_transfer(first, stream_trc),
    )


def _first_frame(path: Path) -> av.VideoFrame:
    container = _open(path)
    try:
        for frame in container.decode(_video_stream(container)):
            return frame
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: no frame could be decoded ({_reason(exc)})") from exc
    finally:
        container.close()
    raise VideoError(f"{path}: the video stream holds zero decodable frames")


_STILL_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"}
_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def turned(rgb: np.ndarray, turn_deg: int) -> np.ndarray:
    """A picture turned clockwise by 0, 90, 180 or 270 degrees (a phone's rotation tag, or the
    turn :mod:`spasmcv.measure.orientation` finds for a video stored turned without one)."""
    return rgb if turn_deg == 0 else cv2.rotate(rgb, _ROTATE_CODES[turn_deg])


#: FFmpeg's codes (AVColorSpace) of BT.2020's YUV matrices (non-constant and constant luminance).
_BT2020_MATRICES = (9, 10)
#: swscale's code of BT.2020's matrix (SWS_CS_BT2020), given as a number: PyAV before 18 has no name for it.
_SWS_BT2020 = 9


def hdr_transfer(frame: av.VideoFrame, stream_trc: int) -> str | None:
    """"PQ" or "HLG" for high-dynamic-range video, None for ordinary (SDR) video: the frame's
    transfer function, else ``stream_trc``, the stream's."""
    return hdr.transfer_name(frame.color_trc, stream_trc)


def _to_sdr(frame: av.VideoFrame, transfer: str, width: int, height: int) -> np.ndarray:
    """An HDR picture as 8-bit SDR RGB of ``width`` x ``height``: converted to 16-bit RGB with
    its own matrix and range (resized in the same pass; not to 8 bits, where FFmpeg dithers),
    through :func:`spasmcv.measure.hdr.sdr_table`, then, for BT.2020 video, from BT.2020's
    wide-gamut primaries to BT.709's. Brightness and contrast are an SDR recording's, the
    colours close to them."""
    wide_gamut = frame.colorspace in _BT2020_MATRICES
    rgb48 = frame.reformat(width=width, height=height, format=_rgb48_format(frame.format.name),
                           src_colorspace=_SWS_BT2020 if wide_gamut else None,
                           interpolation="AREA" if (width, height) != (frame.width, frame.height) else None).to_ndarray()
    sdr = cv2.LUT(cv2.convertScaleAbs(rgb48, alpha=1 / 256), hdr.sdr_table(transfer))  # codes rounded to 1/256
    return cv2.transform(sdr, hdr.BT2020_TO_BT709) if wide_gamut else sdr


@functools.lru_cache(maxsize=None)
def _rgb48_format(pixel_format: str) -> str:
    """The 16-bit RGB format to convert HDR pictures in ``pixel_format`` to with the FFmpeg at
    hand, found on a coloured BT.2020 test picture: packed ``rgb48le``, unless it loses the red
    and green of 10-bit video, as the FFmpeg in PyAV 16 and 17's wheels does; then planar
    ``gbrp16le``, right in every version but slower (also for a format the test picture cannot
    be made in)."""
    picture = av.VideoFrame(16, 16, "yuv420p10le")
    for plane, value in zip(picture.planes, (502, 400, 600)):
        plane.update(np.full(plane.buffer_size // 2, value, np.uint16).tobytes())
    picture.color_range, picture.colorspace = 1, 9   # tagged as BT.2020 video is

    def pixel(rgb_format: str) -> np.ndarray:
        return picture.reformat(format=rgb_format, src_colorspace=_SWS_BT2020).to_ndarray()[8, 8].astype(float)

    try:
        if pixel_format != "yuv420p10le":
            picture = picture.reformat(format=pixel_format)
        packed_sound = np.abs(pixel("rgb48le") - pixel("gbrp16le")).max() <= 512
    except (av.error.FFmpegError, ValueError):
        return "gbrp16le"
    return "rgb48le" if packed_sound else "gbrp16le"


def _to_rgb(frame: av.VideoFrame, resize: bool, out_w: int, out_h: int, transfer: str | None = None) -> np.ndarray:
    """Decoded picture -> RGB in one FFmpeg (swscale) conversion, resized to ``out_w`` x ``out_h``
    when ``resize``; HDR video (``transfer`` "PQ" or "HLG") tone-mapped to SDR (:func:`_to_sdr`).

    swscale reads the frame's own YUV matrix (BT.709 for most HD and phone video, BT.601 for
    SD; BT.601 when the file does not say) and colour range (limited 16-235, or full 0-255: MJPEG,
    some phones and webcams); PyAV passes the frame's tags to swscale from version 17 on
    (hence ``av>=17``). Signals before ``eyelid-12`` converted ordinary yuv420p video with
    OpenCV's I420 conversion, no faster now and always BT.601's: BT.709 video's colours came out
    1-2 levels off on average (docs/design.md, "Colour conversion and copies").
    """
    if transfer is not None:
        return _to_sdr(frame, transfer, out_w if resize else frame.width, out_h if resize else frame.height)
    if resize:
        return frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation="AREA").to_ndarray()
    return frame.to_ndarray(format="rgb24")


#: Frames decoded before the frames' timestamps are trusted or not (:func:`stamped_in_decode_order`).
_ORDER_CHECK_FRAMES = 8


def stamped_in_decode_order(pts: list, dts: list) -> bool:
    """Whether decoded frames carry their packets' decode-order stamps as presentation times:
    their ``pts`` go backwards while their ``dts`` rise steadily. AVI stores no presentation
    times, so an AVI holding H.264 with B-frames (reordered frames) gives each frame, in display
    order, another frame's time: Talking Face so stored came back 0 to 0.12 s apart instead of
    0.04. Such frames are timed by their ``dts``, which follow display order."""
    if len(pts) < 2 or any(t is None for t in pts) or any(t is None for t in dts):
        return False
    backwards = any(b < a for a, b in zip(pts, pts[1:]))
    rising = all(b > a for a, b in zip(dts, dts[1:]))
    return backwards and rising


def _stamped(frames, by_decode_time: bool, time_base: float, path: Path):
    """Decoded frames with their presentation stamps, ``(frame, pts, time_base)``: each frame's
    own, or its decode stamp when the file stores decode-order stamps
    (:func:`stamped_in_decode_order`)."""
    stamps: list[int] = []
    for n, frame in enumerate(frames):
        if not by_decode_time:
            pts = frame.pts if frame.pts is not None else frame.dts
        elif frame.dts is not None:
            pts = frame.dts
        else:  # the decoder's last frames, flushed after the packets ran out: one step on
            pts = stamps[-1] + (stamps[-1] - stamps[-2]) if len(stamps) > 1 else None
        if by_decode_time and pts is not None:
            stamps.append(pts)
        if pts is None:
            raise VideoError(f"{path}: frame {n} has no timestamp")
        yield frame, pts, time_base


def is_interlaced(frame: av.VideoFrame) -> bool:
    """Whether a decoded frame is flagged interlaced: two fields, filmed half a frame interval
    apart, woven into one picture (camcorders, DV, broadcast 1080i and 576i)."""
    return bool(frame.interlaced_frame)


#: Frames FFmpeg's interlace detector (idet) looks at to tell frames that show two moments from
#: progressive frames merely coded as interlaced (:func:`fields_differ`): 4 s at 25 frames/s.
INTERLACE_CHECK_FRAMES = 100


def fields_differ(path: str | os.PathLike) -> bool:
    """Whether a video's frames show two moments, one per field, as a camera filming interlaced
    makes them, rather than progressive frames coded as interlaced (progressive segmented frames:
    some camcorders' 25p and 30p modes, film in broadcast 1080i), whose fields were filmed
    together. FFmpeg's idet filter looks for comb lines over the first
    :data:`INTERLACE_CHECK_FRAMES` frames and keeps or clears each frame's interlaced flag; more
    than half still flagged (a still picture keeps the flag) means two moments. Deinterlacing
    progressive frames field by field added false closures on the labelled clips
    (docs/quality-limits.md, "Interlaced video"). The answer is kept per file (path, size and
    modification time), as every reading of a video must agree."""
    path = Path(path)
    stat = path.stat()
    return _fields_differ(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _fields_differ(path: str, size: int, mtime_ns: int) -> bool:
    container = _open(Path(path))
    flagged = total = 0
    try:
        stream = _video_stream(container)
        graph = _one_filter(("idet",), template=stream)
        for frame in itertools.islice(container.decode(stream), INTERLACE_CHECK_FRAMES):
            graph.push(frame)
            for picture, _, _ in _pulled(graph):
                flagged, total = flagged + is_interlaced(picture), total + 1
        for picture, _, _ in _pulled(graph, flush=True):
            flagged, total = flagged + is_interlaced(picture), total + 1
    except (av.error.FFmpegError, ValueError):  # e.g. the size changes within the frames looked at
        return True                             # the stream's own flag stands
    finally:
        container.close()
    return total == 0 or flagged > total / 2


#: FFmpeg's deinterlacer for interlaced video, one picture per field ("send_field"), in the
#: field order the stream states. bwdif (Bob Weaver) fills each field's missing rows from both
#: fields and the fields before and after.
DEINTERLACER = ("bwdif", "mode=send_field:parity=auto:deint=all")


def _fields(pictures, time_base, path: Path):
    """Interlaced pictures as one deinterlaced picture per field, ``(frame, pts, time_base)``
    with the deinterlacer's own stamps (half the stream's time base: the second field half a
    frame interval after the first). Measured on real labelled clips woven into interlaced
    video, this finds the blinks the progressive video shows, where the woven pictures lose
    some to comb lines (docs/quality-limits.md, "Interlaced video").

    Raises :class:`VideoError` naming the deinterlacer when it fails (the decoder's own errors
    pass through, to be reported as damaged data)."""
    graph, shape, frames = None, None, 0
    for frame, pts, _ in pictures:
        try:
            ready = []
            if (frame.width, frame.height, frame.format.name) != shape:  # the first, or a size change
                if graph is not None:
                    ready += _pulled(graph, flush=True)
                shape = (frame.width, frame.height, frame.format.name)
                graph = _one_filter(DEINTERLACER, width=frame.width, height=frame.height, format=frame.format,
                                    time_base=time_base)
            frame.pts = pts
            graph.push(frame)
            ready += _pulled(graph)
        except av.error.FFmpegError as exc:
            raise _deinterlacer_failed(path, f"frame {frames}, a {frame.width}x{frame.height} {frame.format.name} "
                                             "picture", exc) from exc
        frames += 1
        yield from ready
    if graph is not None:
        try:
            ready = list(_pulled(graph, flush=True))
        except av.error.FFmpegError as exc:
            raise _deinterlacer_failed(path, "the last frames", exc) from exc
        yield from ready


def _deinterlacer_failed(path: Path, where: str, exc: Exception) -> VideoError:
    return VideoError(
        f"{path}: FFmpeg's deinterlacer ({DEINTERLACER[0]}) failed on {where} ({_reason(exc)}); the file itself may be "
        f"sound: deinterlace it with another tool and measure that copy, e.g. 'ffmpeg -i {path.name} -vf "
        f"yadif=mode=send_field -c:v libx264 -crf 14 {path.stem}_fields.mp4'")


def _one_filter(filter_args: tuple, **source) -> av.filter.Graph:
    """A configured FFmpeg filter graph: frames pushed (``source``: :meth:`add_buffer`'s
    arguments), one filter (its name and options), pictures pulled (:func:`_pulled`)."""
    graph = av.filter.Graph()
    buffer, middle, sink = graph.add_buffer(**source), graph.add(*filter_args), graph.add("buffersink")
    buffer.link_to(middle)
    middle.link_to(sink)
    graph.configure()
    return graph


def _pulled(graph, flush: bool = False):
    """The pictures a filter graph has ready (all of them, after ``flush``)."""
    if flush:
        graph.push(None)
    while True:
        try:
            picture = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        yield picture, picture.pts, float(picture.time_base)


def _fitted(frame: av.VideoFrame, pixel_aspect: float, size: tuple[int, int], transfer: str | None) -> np.ndarray:
    """A picture whose size differs from the video's first, as RGB of that first ``size``
    (width, height): scaled to fit and centred on black, so the face keeps its shape and every
    frame of a video keeps one size (the display size positions are given in)."""
    width, height = size
    shown_w = frame.width * pixel_aspect
    fit = min(width / shown_w, height / frame.height)
    fit_w = max(1, min(width, int(round(shown_w * fit))))
    fit_h = max(1, min(height, int(round(frame.height * fit))))
    if transfer is not None:
        picture = _to_sdr(frame, transfer, fit_w, fit_h)
    else:
        picture = frame.reformat(width=fit_w, height=fit_h, format="rgb24", interpolation="AREA").to_ndarray()
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    canvas[top:top + fit_h, left:left + fit_w] = picture
    return canvas


def iter_frames(
    path: str | os.PathLike, *, max_side_px: int | None = 1920, threads: int = 0, turn_deg: int = 0,
) -> Iterator[Frame]:
    """Yield a video's frames in presentation order with their own timestamps.

    Memory stays bounded whatever the video's length: one frame at a time, after the first
    :data:`_ORDER_CHECK_FRAMES` decoded frames are held to check their timestamps' order.

    Parameters
    ----------
    path : path
    max_side_px : int, optional
        Frames whose longer display side exceeds this are downscaled during the colour
        conversion (one pass, area interpolation). None keeps full resolution.
    threads : int
        Decoder threads; 0 lets FFmpeg choose.
    turn_deg : {0, 90, 180, 270}
        A further clockwise turn of the displayed picture, for video stored turned without a
        rotation tag (:mod:`spasmcv.measure.orientation`); 90 and 270 swap its width and height.

    Every frame has the first frame's size: a picture whose size changes mid-stream (a recorded
    video call adapting its resolution, files joined) is scaled to fit it, keeping its shape.
    Interlaced video yields one deinterlaced picture per field, each at its field's time.
    High-dynamic-range video (PQ or HLG) is tone-mapped to an SDR picture (:func:`_to_sdr`).

    Raises
    ------
    VideoError
        When the file cannot be opened or the data breaks off mid-stream (truncated).
    """
    path = Path(path)
    if turn_deg not in (0, 90, 180, 270):
        raise ValueError(f"turn_deg must be 0, 90, 180 or 270, not {turn_deg!r}")
    container = _open(path)
    try:
        stream = _video_stream(container)
        if threads != 1:
            stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        time_base = float(stream.time_base)
        pixel_aspect = sample_aspect_ratio(stream)
        first_pts = None
        index = 0
        last_time = -np.inf
        try:
            decoded = container.decode(stream)
            head = list(itertools.islice(decoded, _ORDER_CHECK_FRAMES))
            by_decode_time = stamped_in_decode_order([f.pts for f in head], [f.dts for f in head])
            pictures = _stamped(itertools.chain(head, decoded), by_decode_time, time_base, path)
            if head and is_interlaced(head[0]) and fields_differ(path):
                pictures = _fields(pictures, stream.time_base, path)
            for frame, pts, base in pictures:
                if first_pts is None:
                    first_pts = pts
                    rotation = (_clockwise_rotation(head[0]) + turn_deg) % 360
                    shown_w, coded_h = frame.width * pixel_aspect, frame.height
                    longest = max(shown_w, coded_h)
                    scale = 1.0
                    if max_side_px and longest > max_side_px:
                        scale = max_side_px / longest
                    # the probe's display size (VideoInfo.width), scaled: not rounded to even
                    out_w = max(1, int(round(shown_w * scale)))
                    out_h = max(1, int(round(coded_h * scale)))
                    resize = scale != 1.0 or pixel_aspect != 1.0
                    coded_size, first_size = (frame.width, frame.height), None
                    transfer = hdr_transfer(head[0], stream.codec_context.color_trc)
                time_s = (pts - first_pts) * base
                if time_s <= last_time:
                    # Out-of-order or duplicated timestamps: keep strict order, flagged upstream
                    # by the probe's variable-frame-rate check.
                    time_s = last_time + 1e-6
                last_time = time_s
                if (frame.width, frame.height) == coded_size:
                    rgb = _to_rgb(frame, resize, out_w, out_h, transfer)
                    first_size = first_size or (rgb.shape[1], rgb.shape[0])
                else:  # the picture size changed mid-stream (a video call adapting, joined files)
                    rgb = _fitted(frame, pixel_aspect, first_size or (out_w, out_h), transfer)
                rgb = turned(rgb, rotation)
                # FFmpeg pads rows; MediaPipe silently finds no face in a strided array.
                rgb = np.ascontiguousarray(rgb)
                yield Frame(index=index, time_s=float(time_s), rgb=rgb, scale=scale)
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: truncated or corrupt video data after frame {index} ({_reason(exc)})") from exc
        if index == 0:
            raise VideoError(f"{path}: the video stream holds zero decodable frames")
    finally:
        container.close()


def frame_thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A small grey copy of one frame (:data:`CUT_THUMBNAIL_SIZE`, float32) for finding cuts."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, CUT_THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_difference(thumbnail: np.ndarray, previous: np.ndarray | None) -> float:
    """Mean absolute grey-level difference (0-255) between two thumbnails; NaN without a previous one."""
    if previous is None:
        return float("nan")
    return float(np.mean(np.abs(thumbnail - previous)))


def shot_numbers(differences: np.ndarray, *, min_difference: float = CUT_MIN_DIFFERENCE,
                 ratio: float = CUT_RATIO, window: int = CUT_WINDOW) -> np.ndarray:
    """0-based shot number of each frame: edited video changes shot at a hard cut.

    A frame starts a new shot when it differs from the frame before by more than
    ``min_difference`` grey levels and ``ratio`` times the median difference of the ``window``
    frames before it, while the frames on either side of that jump change by less than half as
    much: a cut is one jump, whereas a fast camera move, a whip pan or a hand over the lens changes
    several frames in a row and is not a cut. ``differences`` are :func:`frame_difference` values per frame
    (NaN for the first).
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    cut = np.zeros(n, dtype=bool)
    for i in range(1, n):
        if not d[i] > min_difference:
            continue
        before = d[max(1, i - window):i]
        before = before[np.isfinite(before)]
        usual = float(np.median(before)) if before.size else 0.0
        after = d[i + 1] if i + 1 < n else 0.0
        isolated = not (d[i - 1] >= d[i] / 2 or after >= d[i] / 2)  # NaN (the first frame) counts as calm
        cut[i] = d[i] > ratio * max(usual, 1.0) and isolated
    return np.cumsum(cut).astype(np.int64)
