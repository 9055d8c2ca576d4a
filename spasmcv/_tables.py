"""Plain-text table helpers shared by the writers: strict JSON and CSV without NaN."""

from __future__ import annotations

import csv
import io
import math


def json_safe(value):
    """``value`` with NaN/inf as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return json_safe(value.item())
    return value


def csv_text(rows: list[dict], columns: list[str], *, float_format: str = ".6g") -> str:
    """CSV with the given columns (others ignored); missing and non-finite values are empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and not math.isfinite(v))
                             else format(v, float_format) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()
