"""The structure rules of DESIGN.md, checked from the code itself with Python's ``ast``:

* no import cycle between the project's modules, counting the imports made inside functions too;
* at most ``MAX_IMPORTS_IN_FUNCTIONS`` imports sit inside function bodies, each with a comment saying why
  (on its line or the line above).

Tests and migrations are not part of the structure (they may import anything).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = {".venv", "tests", "node_modules", "staticfiles"}
MAX_IMPORTS_IN_FUNCTIONS = 20


def project_files() -> dict[str, Path]:
    """Module name -> file, for every module of the project (packages under their package name)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in LEFT_OUT or relative.parts[0].startswith(".") or "migrations" in relative.parts:
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            modules[".".join(parts)] = path
    return modules


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module name, or a name inside one)
    line: int
    in_function: bool
    has_reason: bool


def imports_of(module: str, path: Path) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    found = []

    def has_comment(lineno: int) -> bool:
        here = lines[lineno - 1]
        above = lines[lineno - 2].strip() if lineno >= 2 else ""
        return "#" in here or above.startswith("#")

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                targets = [f"{child.module}.{alias.name}" for alias in child.names]
            else:
                visit(child, inside)
                continue
            for target in targets:
                found.append(Import(module, target, child.lineno, in_function, has_comment(child.lineno)))

    visit(ast.parse(source), False)
    return found


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names: ``a.b.c`` is module a.b.c, or name c of module a.b."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def graph() -> tuple[dict[str, set[str]], list[Import]]:
    modules = project_files()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    every = []
    for name, path in modules.items():
        for imported in imports_of(name, path):
            every.append(imported)
            target = resolve(imported.target, modules)
            # Importing a package's face (its __init__) from inside that package is not a cycle of modules.
            if target is not None and target != name and not name.startswith(f"{target}."):
                edges[name].add(target)
    return edges, every


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_no_module_imports_itself_back_through_others():
    edges, _ = graph()
    loops = cycles(edges)
    described = [
        " <-> ".join(component)
        + ": "
        + "; ".join(f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component)
        for component in loops
    ]
    assert not loops, "import cycles:\n" + "\n".join(described)


def test_few_imports_sit_inside_functions_and_each_says_why():
    _, every = graph()
    # One per statement: "from x import a, b" is one import.
    inside = list({(i.module, i.line): i for i in every if i.in_function}.values())
    unexplained = [f"{i.module}:{i.line} imports {i.target}" for i in inside if not i.has_reason]
    assert not unexplained, "imports inside functions without a comment saying why:\n" + "\n".join(unexplained)
    where = "\n".join(f"{i.module}:{i.line} {i.target}" for i in inside)
    assert len(inside) <= MAX_IMPORTS_IN_FUNCTIONS, f"{len(inside)} imports inside functions:\n{where}"


def test_the_checker_sees_a_cycle_and_an_import_inside_a_function(tmp_path):
    """The checks above would pass on a tree they cannot read; this one shows they see what they look for."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    module = tmp_path / "m.py"
    module.write_text("import os\n\n\ndef f():\n    # why: the reason\n    import json\n\n    from a import b\n")
    found = imports_of("m", module)
    assert [(i.target, i.in_function, i.has_reason) for i in found] == [
        ("os", False, False),
        ("json", True, True),
        ("a.b", True, False),
    ]
