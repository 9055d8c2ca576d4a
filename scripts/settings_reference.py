#!/usr/bin/env python
"""Write docs/settings.md: every ``--set`` key, its default and what it means.

The descriptions are the docstrings of the settings classes (``spasmcv.settings.settings_reference``),
so the reference cannot drift from the code: ``--check`` fails when docs/settings.md is not what
this script writes (a test runs it).

Usage::

    python scripts/settings_reference.py            # writes docs/settings.md
    python scripts/settings_reference.py --check    # exit 1 if docs/settings.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
import re
from pathlib import Path

from spasmcv.settings import settings_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"

HEAD = """# Settings reference

Every key `--set KEY=VALUE` takes (`spasmcv extract`, `analyze`, `report`, `compare`, `annotate`,
`batch`, `rescore`; Python: `spasmcv.settings.with_overrides`), its default and what it decides. Values are
JSON (`2.0`, `true`, `null`, `[0.02, 0.35]`); a whole number given for a decimal setting is that
decimal. `measure.*` settings decide the trace (changing one measures the video again);
`analysis.*` settings decide events and numbers from a trace (`rescore` changes them without the
videos). Every result records the whole tree (`provenance.settings`) and the batch tables the keys
that differ from the defaults (`analysis_settings`, `measure_settings`). Closure is 0 (open) to 1
(shut); docs/analysis.md gives the rules these thresholds enter and how they were chosen.

Written by `python scripts/settings_reference.py` from the settings classes' docstrings; a test
fails when this file and the code differ."""


def markdown() -> str:
    rows = settings_reference()
    out = [HEAD]
    group = None
    for key, default, description in rows:
        here = key.rsplit(".", 1)[0]
        if here != group:
            group = here
            out += ["", f"## `{group}`", "", "| key | default | meaning |", "|---|---|---|"]
        shown = json.dumps(list(default) if isinstance(default, tuple) else default)
        text = re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", description).replace("``", "`").replace("|", "/")
        out.append(f"| `{key}` | `{shown}` | {text} |")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/settings.md is out of date")
    args = parser.parse_args()
    text = markdown()
    missing = [key for key, _, description in settings_reference() if not description]
    if missing:
        print("settings without a description in their class's docstring: " + ", ".join(missing), file=sys.stderr)
        return 1
    if args.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run python scripts/settings_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
