"""What the docs name: the identifiers written as code in a page, and the batch tables' naming
rules (docs/batch.md), for the tests that check every output key has a definition."""

import re

from conftest import REPO

DOCS = REPO / "docs"
#: The pages that define the analysis JSON's keys.
ANALYSIS_PAGES = ("analysis.md", "severity.md", "trace.md", "settings.md")
#: docs/batch.md's rules naming a recordings.csv column after an analysis key (KEY; REASON: a
#: frame's reason not to be measured; EYE: left or right), longest prefix first.
BATCH_RULES = {"intensity_left_": "`intensity_EYE_KEY`", "intensity_right_": "`intensity_EYE_KEY`",
               "quality_invalid_share_": "`quality_invalid_share_REASON`", "quality_": "`quality_KEY`",
               "asymmetry_": "`asymmetry_KEY`", "left_": "`left_KEY`", "right_": "`right_KEY`"}


def named_in(*pages: str, docs=None) -> set[str]:
    """The identifiers written as code (single backticks, on one line) in each docs/PAGE."""
    names = set()
    for page in pages:
        for span in re.findall(r"`([^`\n]+)`", ((docs or DOCS) / page).read_text(encoding="utf-8")):
            names |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span))
    return names


def batch_column_key(column: str, analysis_names: set[str]) -> str | None:
    """The analysis key a recordings.csv column is named after by one of :data:`BATCH_RULES`, or
    None when no rule names it."""
    for prefix in BATCH_RULES:
        if column.startswith(prefix) and column[len(prefix):] in analysis_names:
            return column[len(prefix):]
    return None


def undefined_columns(columns, *pages: str) -> list[str]:
    """The ``columns`` of a table built from recordings.csv's row that neither ``pages`` nor
    docs/batch.md name, directly or by docs/batch.md's rules."""
    direct = named_in("batch.md", *pages)
    analysis = named_in(*ANALYSIS_PAGES)
    return [c for c in columns if c not in direct and batch_column_key(c, analysis) is None]
