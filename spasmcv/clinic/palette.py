"""One palette for every picture spasmcv draws (report plots and review videos): the display
kinds of :func:`spasmcv.analysis.events.display_kind`, their names, and the two eyes' colours."""

from __future__ import annotations

#: The patient's eyes: right blue, left orange (lines, panels, bars).
EYE_COLORS = {"right": "#1f6fb2", "left": "#e07b00"}
#: Event kinds: saturated and distinct from the eyes' colours and from the idle grey of the review
#: video's swatches; blinks green (normal), flutter purple, prolonged amber, spasm red, not counted grey.
KIND_COLORS = {"blink": "#2e9e4f", "flutter": "#8e44ad", "prolonged": "#e6a100", "spasm": "#c0392b",
               "partial": "#90a4ae", "review": "#17a2b8"}


def kind_labels(prolonged_s: float = 0.5, spasm_s: float = 1.0) -> dict[str, str]:
    """The event kinds' names, with the durations in use (s) of prolonged closures and spasms."""
    return {"blink": "blink", "flutter": "flutter (burst)", "prolonged": f"prolonged {prolonged_s:g}-{spasm_s:g} s",
            "spasm": f"spasm {spasm_s:g} s or longer", "partial": "not counted (partial/coupled/glance/lone frame)",
            "review": "check by eye: closure or lowered gaze (not counted)"}


#: The kinds' names at the default durations.
KIND_LABELS = kind_labels()


def rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an (r, g, b) tuple of 0-255 integers."""
    return tuple(int(color[k:k + 2], 16) for k in (1, 3, 5))
