"""One settings tree for everything that decides spasmcv's results.

:class:`Settings` holds what determines a result: ``measure`` (the landmark tracker and whether
the video is mirrored; decides the trace) and ``analysis`` (quality gate, closure, events,
metrics, severity; decides events and numbers). How a command runs (workers, decoder threads,
progress bars) is never part of it: :class:`spasmcv.measure.pipelining.RunSettings` and the
commands' own options. The whole tree is written into every result's provenance and hashed as
a whole into the batch's cache keys.

Every command that computes takes ``--set KEY=VALUE`` with the same dotted keys, e.g.
``measure.tracker.num_faces=1``, ``measure.mirrored=true``, ``analysis.events.spasm_s=2``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable

from spasmcv.analysis.analyze import AnalysisSettings
from spasmcv.errors import SettingsError
from spasmcv.measure.extract import MeasureSettings


@dataclass(frozen=True)
class Settings:
    """Everything that decides a recording's results."""

    measure: MeasureSettings = field(default_factory=MeasureSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)


def with_overrides(settings, overrides: Iterable[str]):
    """A copy of a (nested, frozen) settings dataclass with ``"a.b=value"`` overrides applied.

    Values are parsed as JSON when possible (numbers, true/false, lists), else kept as text.
    Raises :class:`~spasmcv.errors.SettingsError` for an unknown key, naming the keys there are.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SettingsError(f"--set expects KEY=VALUE, not {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        settings = _replace_path(settings, key.split("."), value, item)
    _check_durations(settings)
    return settings


def _check_durations(settings) -> None:
    """The event durations must keep their order (blink < prolonged_s <= prolonged < spasm_s <=
    spasm): a reversed pair would label closures with impossible ranges."""
    events = getattr(getattr(settings, "analysis", settings), "events", None)
    if events is None:
        return
    for name in ("prolonged_s", "spasm_s"):
        value = getattr(events, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"--set: analysis.events.{name} takes seconds (a number), not {value!r}")
    if not 0 < events.prolonged_s < events.spasm_s:
        raise SettingsError(f"--set: analysis.events.prolonged_s ({events.prolonged_s:g} s) must be above 0 and "
                            f"below analysis.events.spasm_s ({events.spasm_s:g} s): a closure is a blink, then "
                            "prolonged, then a spasm")


def _replace_path(obj, parts: list[str], value, item: str):
    if not dataclasses.is_dataclass(obj) or parts[0] not in {f.name for f in dataclasses.fields(obj)}:
        names = sorted(f.name for f in dataclasses.fields(obj)) if dataclasses.is_dataclass(obj) else []
        hint = ""
        if isinstance(obj, Settings) and parts[0] in {f.name for f in dataclasses.fields(AnalysisSettings)}:
            hint = f"; did you mean analysis.{item}?"
        raise SettingsError(f"--set {item}: unknown setting {parts[0]!r} (choose from {', '.join(names)}){hint}")
    if len(parts) == 1:
        kind = next(f.type for f in dataclasses.fields(obj) if f.name == parts[0])
        if isinstance(value, str) and "str" not in str(kind):
            raise SettingsError(f"--set {item}: {parts[0]} takes {kind} (JSON: a number, true/false, a list "
                                f"or null), not the text {value!r}")
        if type(value) is int and "float" in str(kind) and "int" not in str(kind):
            value = float(value)   # "=2" and "=2.0" are one setting: one cache entry, one analysis_settings text
        return dataclasses.replace(obj, **{parts[0]: value})
    return dataclasses.replace(obj, **{parts[0]: _replace_path(getattr(obj, parts[0]), parts[1:], value, item)})


def digest(payload) -> str:
    """A short, stable hash of a JSON-able payload (settings trees become dicts first)."""
    if dataclasses.is_dataclass(payload):
        payload = dataclasses.asdict(payload)
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _attribute_docs(cls) -> dict[str, str]:
    """``name -> description`` from the "Attributes" section of a dataclass's numpy-style
    docstring (``a, b : type`` lines share the description under them)."""
    import inspect
    import re

    lines = (inspect.getdoc(cls) or "").splitlines()
    if "Attributes" not in lines:
        return {}
    found: dict[str, str] = {}
    names: list[str] = []
    for line in lines[lines.index("Attributes") + 2:]:
        entry = re.match(r"^([A-Za-z_][\w, ]*?) : ", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            found.update({n: "" for n in names})
        elif line.startswith("    ") and names:
            for n in names:
                found[n] = (found[n] + " " + line.strip()).strip()
        elif line.strip() and not line.startswith(" "):   # the next section
            break
    return found


def settings_reference(settings=None) -> list[tuple[str, object, str]]:
    """Every ``--set`` key of the settings tree, its default and its description (from the
    docstrings of the classes holding it; "" where there is none), in the tree's order."""
    rows: list[tuple[str, object, str]] = []

    def walk(obj, prefix: str) -> None:
        described = _attribute_docs(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                rows.append((prefix + f.name, value, described.get(f.name, "")))

    walk(Settings() if settings is None else settings, "")
    return rows
