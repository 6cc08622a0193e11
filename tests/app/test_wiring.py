"""Issue 29: controllers never reach each other through the window; the window wires who listens."""

import ast
from pathlib import Path

import app.controllers

CONTROLLERS = {
    "files",
    "models",
    "playback",
    "scoring",
    "separation",
    "exports",
    "status",
    "quality",
    "meeting",
}


def window_reaches(path: Path) -> list[str]:
    """``w.<controller>`` or ``self.w.<controller>`` in a module: ``file:line: w.name``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute) or node.attr not in CONTROLLERS:
            continue
        host = node.value
        if (isinstance(host, ast.Name) and host.id == "w") or (
            isinstance(host, ast.Attribute) and host.attr == "w"
        ):
            found.append(f"{path.name}:{node.lineno}: w.{node.attr}")
    return found


def test_no_controller_calls_another_through_the_window():
    folder = Path(app.controllers.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 9  # __init__ and the eight controllers
    assert [hit for m in modules for hit in window_reaches(m)] == []


def test_the_guard_sees_a_reach(tmp_path):
    module = tmp_path / "reach.py"
    module.write_text("def f(self, w):\n    w.files.replacing\n    self.w.status.update_busy()\n")
    assert window_reaches(module) == ["reach.py:2: w.files", "reach.py:3: w.status"]
