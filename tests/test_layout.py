"""The package's shape (ARCHITECTURE.md): every public name importable, no import circles,
and no stage importing a later one. Read from the source with `ast`, so a lazy import
inside a function counts too; imports for type hints only (`if TYPE_CHECKING:`) do not."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qa"

# Pipeline order: a module may import its own stage and the stages before it, never one after.
STAGES = [
    ("qa.config", "qa.types", "qa.words", "qa.langchain"),  # foundations (the LangChain adapter imports no qa module)
    ("qa.ingestion",),
    ("qa.embedding",),
    ("qa.store",),
    ("qa.indexing",),
    ("qa.search",),
    ("qa.answering",),
    ("qa.engine",),
    ("qa.evaluation", "qa.serving"),  # shells over QA
    ("qa.training", "qa.ui"),  # training reads SQuAD's metrics from evaluation; the chat mounts the server
    ("qa.cli",),
    ("qa", "qa.__main__"),  # the public names, re-exported
]

PUBLIC = {
    "qa": [
        "QA",
        "Answer",
        "BuildReport",
        "Citation",
        "Document",
        "InvalidQuestion",
        "Passage",
        "Settings",
        "ask",
        "build_index",
        "__version__",
    ],
    "qa.config": ["Settings", "SUPPORTED_SUFFIXES"],
    "qa.types": ["Answer", "Citation", "Document", "Passage", "ShortAnswer", "InvalidQuestion"],
    "qa.store": ["open_store", "Store", "Snapshot", "IndexError_", "IndexMissing", "IndexIncompatible"],
    "qa.langchain": ["QARetriever"],
    "qa.cli": ["main"],
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def stage_of(module: str) -> int:
    best, rank = -1, None
    for i, names in enumerate(STAGES):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, rank = len(name), i
    assert rank is not None, f"{module} belongs to no stage: add its folder to STAGES and ARCHITECTURE.md"
    return rank


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "qa" or target.startswith("qa."):
                    for alias in child.names:  # `from . import data`: the module itself
                        sub = f"{target}.{alias.name}"
                        found.add(sub if sub in MODULES else target)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name == "qa" or a.name.startswith("qa."))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: imports_of(m) for m in MODULES}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_imports(module):
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lost {missing}"
    if module == "qa":
        assert sorted(imported.__all__) == sorted(n for n in PUBLIC["qa"] if n != "__version__")


def test_every_module_imports():
    for module in sorted(MODULES):
        if module != "qa.__main__":
            importlib.import_module(module)


def test_no_stage_imports_a_later_one():
    upward = [
        f"{m} ({STAGES[stage_of(m)][0]}) imports {t} ({STAGES[stage_of(t)][0]})"
        for m, targets in GRAPH.items()
        for t in targets
        if stage_of(t) > stage_of(m)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_circles():
    # Tarjan's strongly connected components: any with two or more modules is a circle.
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                connect(w)
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
                circles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            connect(v)
    assert not circles, circles


def test_the_checks_see_real_imports():
    """The graph is read, not assumed: known edges are in it (so the two tests above can fail)."""
    assert "qa.answering.answerer" in GRAPH["qa.engine"]
    assert "qa.store.lance.database" in GRAPH["qa.store.lance.snapshot"]
    assert "qa.cli.serve" in GRAPH["qa.cli.commands"]  # a lazy import inside a function
    assert "qa.answering.answerer" not in GRAPH["qa.answering.presenting"]  # type hints only
