"""The package's layers: which part may import which (docs/design.md), read from the source, and
the analysis core importable with numpy alone."""

import ast
import subprocess
import sys

from conftest import REPO

PACKAGE = REPO / "spasmcv"
BASE = {"spasmcv", "spasmcv.errors", "spasmcv._atomic", "spasmcv._tables", "spasmcv._hashing"}
#: part -> the parts it may import (besides itself and BASE); data flows left to right:
#: measure -> analysis -> (settings: the one tree of both) -> clinic / study; synthetic renders
#: test videos; cli sits on top.
ALLOWED = {
    "base": set(),
    "measure": set(),
    "analysis": {"measure.trace"},
    "settings": {"measure", "analysis"},
    "clinic": {"measure", "analysis", "settings"},
    "study": {"measure", "analysis", "settings"},
    "synthetic": {"measure.eyelid"},
    "app": {"measure", "analysis", "settings", "clinic", "study"},
    "cli": {"measure", "analysis", "settings", "clinic", "study", "synthetic", "app"},
}


def part_of(module: str) -> str:
    parts = module.split(".")
    if module in BASE:
        return "base"
    if len(parts) > 1 and parts[1] in ALLOWED and parts[1] != "cli":
        return parts[1]
    return "cli"  # spasmcv.cli, spasmcv.__main__


def module_name(path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def spasmcv_imports(path) -> set[str]:
    """Every spasmcv module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spasmcv"):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            for alias in node.names:  # from spasmcv.clinic import plotting
                candidate = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("spasmcv")}
    return found


def test_every_import_goes_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        mine = part_of(me)
        if me == "spasmcv":
            continue  # the lazy top-level names
        for target in spasmcv_imports(path):
            theirs = part_of(target)
            if target in BASE or theirs == mine:
                continue
            allowed = ALLOWED[mine]
            sub = ".".join(target.split(".")[1:3])
            if theirs not in allowed and sub not in allowed:
                wrong.append(f"{me} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_rule_would_catch_an_upward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from spasmcv.clinic.report import write_report\nfrom spasmcv.measure.trace import Trace\n")
    imports = spasmcv_imports(bad)
    assert "spasmcv.clinic.report" in imports
    assert part_of("spasmcv.clinic.report") not in ALLOWED["analysis"] | {"analysis"}


def test_the_analysis_core_needs_numpy_only():
    """Importing spasmcv and every analysis module loads no video, model or plotting library."""
    modules = [module_name(p) for p in sorted((PACKAGE / "analysis").glob("*.py"))]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in ["spasmcv", *modules])
            + "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'av', 'cv2', 'mediapipe', 'matplotlib', 'tqdm'})\n"
            + "print(','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
