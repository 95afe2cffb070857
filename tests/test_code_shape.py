"""The shape of the code: imports form no cycle, and long functions say why they are long.

Both are read from the source with :mod:`ast`, nothing is imported.  Run this file as a
script to print every function over the limit::

    .venv/bin/python tests/test_code_shape.py
"""

from __future__ import annotations

import ast
import graphlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "optimizer"
#: Lines a function may span (signature and body, its docstring not counted) before its
#: docstring must say why it is long, with a sentence starting "Long because".
MAX_LINES = 80
#: The words that start the reason in a long function's docstring.
REASON = "Long because"
#: Long functions of modules whose owners are reshaping them this round (qualified name
#: → who); a new long function must be split or give its reason instead.  Run this file
#: as a script to see which of these are still long.
PENDING: dict[str, str] = {}


def module_name(path: Path) -> str:
    """``optimizer.x.y`` of a file of the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    """Every module of the package, parsed, by name."""
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


# --------------------------------------------------------------------------- imports


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, name: str, known: set[str], *, top_level: bool) -> Iterator[str]:
    """The package modules ``name`` imports: at import time only (``top_level``), or
    anywhere (inside functions too); imports for type checking are never counted."""
    stack: list[ast.AST] = list(tree.body)
    package = (
        name if name in known and any(m.startswith(name + ".") for m in known) else name.rpartition(".")[0]
    )
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    yield target
                elif base in known:
                    yield base
        if top_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def import_graph(*, top_level: bool) -> dict[str, set[str]]:
    """Module → the package modules it imports."""
    parsed = modules()
    known = set(parsed)
    return {name: set(_imports(tree, name, known, top_level=top_level)) for name, tree in parsed.items()}


#: Imports inside functions that close a cycle, while their owners untangle them
#: (importer, imported) → who.
LAZY_CYCLES: dict[tuple[str, str], str] = {
    ("optimizer.web.auth", "optimizer.web.deps"): "web-core (auth's middleware asks deps for the language)",
}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (empty when none); a package's ``__init__`` importing its own
    modules does not count."""
    edges = {a: {b for b in targets if not b.startswith(a + ".")} for a, targets in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_cycle_at_import_time() -> None:
    assert find_cycle(import_graph(top_level=True)) == []


def test_no_import_cycle_even_through_imports_inside_functions() -> None:
    graph = import_graph(top_level=False)
    for importer, imported in LAZY_CYCLES:
        graph[importer].discard(imported)
    assert find_cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"optimizer": {"optimizer.a"}, "optimizer.a": {"optimizer.b"}, "optimizer.b": {"optimizer.a"}}
    assert set(find_cycle(graph)) == {"optimizer.a", "optimizer.b"}
    assert find_cycle({"optimizer": {"optimizer.a"}, "optimizer.a": set()}) == []


# --------------------------------------------------------------------------- thin command line

#: What the command line may import besides itself: the service layer, and the
#: presentation helpers every layer shares (messages, code labels, KPI names and formats,
#: local times, errors).
CLI_MAY_IMPORT = frozenset(
    {
        "optimizer",
        "optimizer.service",
        "optimizer.i18n",
        "optimizer.labels",
        "optimizer.kpi_display",
        "optimizer.localtime",
        "optimizer.errors",
    }
)
#: The shared presentation helpers of :data:`CLI_MAY_IMPORT` (all but the service).
SHARED_HELPERS = CLI_MAY_IMPORT - {"optimizer", "optimizer.service"}
#: Commands that reach below the service, for a reason (command module → the modules it
#: reaches); a command not listed here goes through the service alone.
CLI_PENDING: dict[str, set[str]] = {
    "optimizer.cli.serve": {"optimizer.store", "optimizer.web.app", "optimizer.web.auth"},  # web2
    # a generator of test data, not a planner action: no service call of its own
    "optimizer.cli.synth": {"optimizer.io.places", "optimizer.shapes", "optimizer.synth"},
}


def below_the_service(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Command module → the package modules below the service it imports, in an import
    graph (:func:`import_graph`)."""
    return {
        name: reached
        for name, targets in graph.items()
        if name.startswith("optimizer.cli")
        and (reached := {m for m in targets if m not in CLI_MAY_IMPORT and not m.startswith("optimizer.cli")})
    }


def test_the_command_line_reaches_the_library_through_the_service() -> None:
    reached = below_the_service(import_graph(top_level=False))
    new = {name: sorted(m - CLI_PENDING.get(name, set())) for name, m in reached.items()}
    assert {name: m for name, m in new.items() if m} == {}
    stale = {name: sorted(m - reached.get(name, set())) for name, m in CLI_PENDING.items()}
    assert {name: m for name, m in stale.items() if m} == {}, "no longer reached: drop from CLI_PENDING"


def test_a_command_importing_below_the_service_is_found() -> None:
    graph = {
        "optimizer.cli.runs": {"optimizer.service", "optimizer.kpi_display", "optimizer.cli.common"},
        "optimizer.cli.sweep": {"optimizer.labels", "optimizer.compare", "optimizer.export.report_summary"},
    }
    assert below_the_service(graph) == {
        "optimizer.cli.sweep": {"optimizer.compare", "optimizer.export.report_summary"}
    }


def test_the_shared_helpers_import_only_one_another() -> None:
    """The command line may import the helpers because they lead nowhere below the service."""
    graph = import_graph(top_level=False)
    beyond = {name: sorted(graph[name] - SHARED_HELPERS) for name in SHARED_HELPERS}
    assert {name: m for name, m in beyond.items() if m} == {}


# --------------------------------------------------------------------------- function length


@dataclass(frozen=True)
class Function:
    """A function of the package: qualified name, file and line, length, docstring."""

    name: str
    where: str
    lines: int
    doc: str


def functions() -> Iterator[Function]:
    """Every function and method of the package, with its length without the docstring."""
    for name, tree in modules().items():
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
        yield from _walk(tree, name, path)


def _walk(node: ast.AST, prefix: str, path: Path) -> Iterator[Function]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield from _walk(child, f"{prefix}.{child.name}", path)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            qualified = f"{prefix}.{child.name}"
            assert child.end_lineno is not None
            lines = child.end_lineno - child.lineno + 1
            doc = ast.get_docstring(child) or ""
            first = child.body[0]
            if doc and isinstance(first, ast.Expr) and first.end_lineno is not None:
                lines -= first.end_lineno - first.lineno + 1
            yield Function(qualified, f"{path.relative_to(PACKAGE.parent)}:{child.lineno}", lines, doc)
            yield from _walk(child, qualified, path)


def long_functions() -> list[Function]:
    """Functions over :data:`MAX_LINES`, longest first."""
    return sorted((f for f in functions() if f.lines > MAX_LINES), key=lambda f: -f.lines)


def test_long_functions_say_why_they_are_long() -> None:
    unexplained = {f.name: f.lines for f in long_functions() if REASON not in f.doc}
    new = {name: n for name, n in unexplained.items() if name not in PENDING}
    assert new == {}, f"over {MAX_LINES} lines without '{REASON} …' in the docstring: split them"


def test_lengths_are_measured_without_the_docstring() -> None:
    tree = ast.parse('def f():\n    """Doc.\n\n    More.\n    """\n    return 1\n')
    (only,) = _walk(tree, "m", PACKAGE / "x.py")
    assert (only.name, only.lines) == ("m.f", 2)


if __name__ == "__main__":
    for f in long_functions():
        mark = "explained" if REASON in f.doc else ("pending" if f.name in PENDING else "UNEXPLAINED")
        print(f"{f.lines:4d}  {mark:11s}  {f.name}  ({f.where})")
    long = {f.name for f in long_functions()}
    for name in sorted(set(PENDING) - long):
        print(f"   -  no longer long  {name}: drop it from PENDING")
    sys.exit(0)
