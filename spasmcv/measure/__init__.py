"""Measurement: a video becomes a trace (one row of eyelid signals per frame).

``video`` (decoding, timestamps, rotation) -> ``landmarks`` (MediaPipe face landmarker, the
followed subject) -> ``eyelid`` (eye aspect ratio, apertures in iris units, head pose) ->
``trace`` (the file format) ; ``extract`` runs them in order, ``region`` and ``orientation``
find a face too small for the whole picture or a picture stored turned, ``model`` finds and
checks the landmark model, ``pipelining`` overlaps decoding with the model, ``hdr`` holds HDR
video's colour maths for ``video``. The slow part of
spasmcv: it needs PyAV, OpenCV and MediaPipe. Nothing here knows about blinks or severity.
"""
