"""Analysis: a trace becomes events, metrics and a severity grade. Pure functions on arrays
(numpy only; no video, no model), so traces can be re-scored anywhere.

``quality`` (which frames are measured, whether the recording is gradable) -> ``closure``
(0 open - 1 closed per eye) -> ``events`` (blinks, flutter, spasms...) -> ``metrics`` ->
``severity``; ``analyze`` runs them in order and writes the results, ``summary`` prints them,
``evaluation`` scores detections against hand labels and synthetic ground truth.
"""
