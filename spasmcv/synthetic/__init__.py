"""Synthetic patient videos with exact ground truth (``render``): used by the sample videos,
scripts and tests as a second check; never by the measurement itself.
"""
