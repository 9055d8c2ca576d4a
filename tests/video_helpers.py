"""Videos made from the real clips for the tests (PyAV)."""

import numpy as np


def write_turned_copy(source, path, quarter_turns_anticlockwise: int, frames: int) -> None:
    """The first ``frames`` frames of ``source`` stored turned anticlockwise by that many quarter
    turns, with no rotation tag (as a converter that drops the tag leaves a phone video)."""
    import av

    from spasmcv.measure.video import iter_frames

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18"}
        for frame in iter_frames(source):
            if frame.index >= frames:
                break
            stored = np.ascontiguousarray(np.rot90(frame.rgb, k=quarter_turns_anticlockwise))
            if frame.index == 0:
                stream.height, stream.width = stored.shape[:2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

