"""The clinic: one patient's visits compared with confidence intervals (``compare``), the
HTML report (``report``, with ``plotting``) and the review video with the detected events drawn
on the face (``annotate``). Built on :mod:`spasmcv.analysis`; no measurement of its own.
"""
