"""The package's shape: no import cycles, layers that import only downward, and labelers that import
no stage, backend or run folder.

Every `import` counts, top-level or inside a function (a lazy import is still a dependency). A
`from pkg import name` counts as importing `pkg.name` when that is a module, else `pkg`; a
submodule's implicit import of its parent packages does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import qstar_cli

ROOT = Path(qstar_cli.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_sees_a_hand_made_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_a_module_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_labelers_are_pure():
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("qstar_cli.labelers"):
            bad = {
                d
                for d in deps
                if d.startswith(("qstar_cli.stages", "qstar_cli.backends")) or d == "qstar_cli.artifacts.rundir"
            }
            assert not bad, f"{name} imports {sorted(bad)}"


# The layers, lowest first: a module may import its own layer and those below, never one above.
# A name covers a package or module and everything under it; the longest name that covers a module
# places it (artifacts.rundir sits above the rest of artifacts: it reads the config).
LAYERS = [
    # foundations: errors, terminal output, statistics, step formats, records and JSONL, grading, sandbox
    (
        "qstar_cli",
        "qstar_cli.errors",
        "qstar_cli.ui",
        "qstar_cli.stats",
        "qstar_cli.steps",
        "qstar_cli.batching",
        "qstar_cli.artifacts",
        "qstar_cli.grading",
        "qstar_cli.execution",
    ),
    # models and methods: backends, datasets, search, labelers, value models, the search environment
    (
        "qstar_cli.backends",
        "qstar_cli.datasets",
        "qstar_cli.search",
        "qstar_cli.labelers",
        "qstar_cli.value",
        "qstar_cli.environment",
    ),
    # configuration (built from the registries above), run folders and the stages' table
    ("qstar_cli.config", "qstar_cli.artifacts.rundir"),
    ("qstar_cli.report",),  # reading eval runs: tables, tests, plots
    ("qstar_cli.stages",),  # one module per command that writes or reads run folders
    ("qstar_cli.launch", "qstar_cli.serve"),  # stages in order, again, or across machines; the server
    ("qstar_cli.cli", "qstar_cli.cli_flags", "qstar_cli.cli_reference", "qstar_cli.__main__"),
]


def layer_of(module: str) -> int:
    covering = [
        (len(name), i)
        for i, names in enumerate(LAYERS)
        for name in names
        if module == name or module.startswith(name + ".")
    ]
    assert covering, f"{module} is in no layer: add it to LAYERS"
    return max(covering)[1]


def upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, deps in graph.items() for b in deps if layer_of(b) > layer_of(a))


def test_the_layer_check_sees_a_hand_made_upward_arrow():
    assert upward({"qstar_cli.report.runs": {"qstar_cli.stages.eval"}}) == [
        "qstar_cli.report.runs -> qstar_cli.stages.eval"
    ]
    assert upward({"qstar_cli.artifacts.records": {"qstar_cli.artifacts.rundir"}}) != []
    assert upward({"qstar_cli.artifacts.rundir": {"qstar_cli.config.resolve", "qstar_cli.artifacts.jsonl"}}) == []


def test_layers_import_only_downward():
    assert upward(import_graph()) == []
