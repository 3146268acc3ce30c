"""The house's layering, read from the source: runners never import advisor, and no module-level import loop."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("advisor", "runners")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
    return []


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Imports that run when the module is imported: module level, `TYPE_CHECKING` blocks left out."""
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        for child in [node] + (list(ast.walk(node)) if isinstance(node, (ast.If, ast.Try)) else []):
            found += _imported(child, module, is_package)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = _top_level_imports(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_graph_reader_finds_a_loop_it_is_shown() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    tree = ast.parse("from . import x\nfrom .y import z\nif TYPE_CHECKING:\n    import advisor.q\n")
    assert _top_level_imports(tree, "advisor.auto.search", False) == [
        "advisor.auto",
        "advisor.auto.x",
        "advisor.auto.y",
        "advisor.auto.y.z",
    ]


def test_no_module_level_import_loop_in_either_package() -> None:
    graph = _graph()
    assert len(graph) > 80 and "advisor.auto.setup" in graph["advisor.auto.search"]  # the reader sees imports
    assert _cycle(graph) is None, f"import loop: {' → '.join(_cycle(graph) or [])}"


def test_runners_never_import_advisor_not_even_inside_a_function() -> None:
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("runners"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if any(
                t == "advisor" or t.startswith("advisor.") for t in _imported(node, name, path.name == "__init__.py")
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
