"""The house rules of the code base, checked on the source itself.

Imports go one way (data -> engine -> bridge -> game -> web), with no circles, and modules stay
small enough to read. These read the real files, so a new import that breaks a rule fails here.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "fl_engine", "bench")
MAX_LINES = 320  # "no module over ~300 lines"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, at any depth in the file (lazy imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _project_graph() -> dict[str, set[str]]:
    return {
        name: {m for m in _imports(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, or None (iterative depth-first search with colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                return [*path[path.index(child) :], child]
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles() -> None:
    assert len(MODULES) > 30, "the module scan found too few modules"
    assert _cycle(_project_graph()) is None


def _forbidden(prefix: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{name} imports {imported}"
        for name, path in MODULES.items()
        if name == prefix or name.startswith(prefix + ".")
        for imported in sorted(_imports(name, path))
        if any(imported == b or imported.startswith(b + ".") for b in banned)
    ]


def test_the_engine_knows_nothing_of_the_game_or_the_web() -> None:
    assert _forbidden("fl_engine", ("app", "fastapi", "starlette", "uvicorn")) == []


def test_the_game_is_pure_rules() -> None:
    """No web, no engine, no model, no files or network: only the rules."""
    banned = (
        "app.web",
        "app.bridge",
        "app.cli",
        "app.reporting",
        "fl_engine",
        "torch",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic_settings",
        "typer",
        "rich",
        "socket",
        "sqlite3",
        "asyncio",
    )
    assert _forbidden("app.game", banned) == []


def test_the_web_reaches_the_engine_only_through_the_bridge_it_is_given() -> None:
    assert _forbidden("app.web", ("fl_engine", "torch", "app.bridge", "app.cli")) == []


def test_modules_stay_small() -> None:
    sources = [*MODULES.values(), *sorted((ROOT / "static" / "js").rglob("*.js"))]
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in sources
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_help_answers_without_torch(tmp_path: Path) -> None:
    """`tycoon --help` must not import torch (or the engine): a broken torch cannot stop it."""
    sabotage = tmp_path / "torch"
    sabotage.mkdir()
    (sabotage / "__init__.py").write_text("raise ImportError('torch was imported by --help')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    for args in (["--help"], ["train", "--help"], ["serve", "--help"], ["data", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", "from app.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "Usage" in done.stdout
    # The sabotage is real: importing the engine under it fails.
    done = subprocess.run(
        [sys.executable, "-c", "import fl_engine.model"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "torch was imported by --help" in done.stderr


@pytest.mark.parametrize("module", ["app.game.simulation", "app.web.server"])
def test_game_and_web_import_without_torch(tmp_path: Path, module: str) -> None:
    sabotage = tmp_path / "torch"
    sabotage.mkdir()
    (sabotage / "__init__.py").write_text("raise ImportError('torch imported')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
