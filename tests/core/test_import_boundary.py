"""separation_core must never import the GUI stack (Qt, pyqtgraph, sounddevice)."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "separation_core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "sounddevice", "app")


def test_no_gui_import_statements_in_core():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders


def test_running_the_cli_loads_no_gui_module():
    code = (
        "import sys, separation_core.cli as c, separation_core.checkpoints.catalog, separation_core.engine.inference;"
        "c.build_parser();"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','sounddevice')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
