"""The architecture's rules (docs/architecture.md), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spine_site"
MODULES = sorted(PACKAGE.rglob("*.py"))
# The request-facing layer: blueprints, their hooks and forms.
VIEW_MODULES = [p for p in MODULES if p.parent.name in {"public", "staff"}]
MAX_FUNCTION_LINES = 60
# A declarative table may be longer than a function should be: the settings, one per line.
LONG_BY_DESIGN = {("config.py", "load_settings")}


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_rules_see_the_whole_package():
    names = {_name(p) for p in MODULES}
    assert {
        "leads/intake.py",
        "desk/casework.py",
        "public/views.py",
        "staff/lead_views.py",
    } <= names


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_over_60_lines(path):
    too_long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and (_name(path), node.name) not in LONG_BY_DESIGN
    ]
    assert too_long == []


def _calls(tree: ast.AST) -> list[str]:
    """Dotted names of everything called, e.g. db.session.commit, audit.record."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            target = node.func
            while isinstance(target, ast.Attribute):
                parts.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name):
                parts.append(target.id)
            names.append(".".join(reversed(parts)))
    return names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=_name)
def test_views_leave_transactions_and_the_audit_to_the_domain(path):
    writes = {
        "db.session.commit",
        "db.session.add",
        "db.session.delete",
        "db.session.execute",
        "db.session.rollback",
        "audit.record",
    }
    assert [call for call in _calls(_tree(path)) if call in writes] == []


@pytest.mark.parametrize("path", VIEW_MODULES, ids=_name)
def test_views_change_no_model_attribute(path):
    # `user.role = ...` in a view is a domain rule living in the wrong layer.
    assigned = [
        ast.unparse(target)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Assign | ast.AugAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id in {"user", "lead", "found", "email", "person"}
    ]
    assert assigned == []


def _imports(path: Path) -> set[str]:
    """Modules imported, as package-relative dotted names (spine_site.x.y -> x.y)."""
    found = set()
    package = path.relative_to(PACKAGE).parent.parts
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
                found.add(module)
                found.update(f"{module}.{a.name}".strip(".") for a in node.names)
            elif node.module and node.module.split(".")[0] == "spine_site":
                module = node.module.removeprefix("spine_site").strip(".")
                found.add(module)
                found.update(f"{module}.{a.name}".strip(".") for a in node.names)
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p not in VIEW_MODULES and p != PACKAGE / "__init__.py"],
    ids=_name,
)
def test_the_domain_never_imports_the_web_layer(path):
    # The factory wires the blueprints in; nothing below them may reach up.
    assert {m for m in _imports(path) if m.split(".")[0] in {"public", "staff"}} == set()


@pytest.mark.parametrize("path", VIEW_MODULES, ids=_name)
def test_blueprints_do_not_import_each_other(path):
    other = "staff" if path.parent.name == "public" else "public"
    assert {m for m in _imports(path) if m.split(".")[0] == other} == set()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# Underscore names a library documents as public: werkzeug's LocalProxy names its one method
# so (Flask's docs, "Notes On Proxies", give current_app._get_current_object()).
DOCUMENTED_UNDERSCORE_NAMES = {"_get_current_object"}


def _private_library_names(tree: ast.Module) -> list[str]:
    """Every reach into another package's private names: a module on the way with a leading
    underscore (`from openpyxl.worksheet._write_only import X`, `import a._b`), a private name
    imported (`from flask_compress.flask_compress import _compress_data`), or an attribute
    read off anything but the class's own `self`/`cls` (`current_user._get_user()`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            if module.split(".")[0] == "spine_site":
                continue
            if any(_private(part) for part in module.split(".")):
                found.append(module)
            found += [f"{module}.{a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if any(map(_private, a.name.split(".")))]
        elif (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and node.attr not in DOCUMENTED_UNDERSCORE_NAMES
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
        ):
            found.append(f"{ast.unparse(node.value)}.{node.attr}")
    return found


def test_the_private_name_rule_catches_every_form():
    source = """
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from flask_compress.flask_compress import _choose_algorithm
import prometheus_client._private
from flask_login import utils
utils._get_user()
from .caching import _digest
self._own = 1
"""
    assert _private_library_names(ast.parse(source)) == [
        "openpyxl.worksheet._write_only",
        "flask_compress.flask_compress._choose_algorithm",
        "prometheus_client._private",
        "utils._get_user",
    ]


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_private_library_api(path):
    assert _private_library_names(_tree(path)) == []


SCRIPTS = sorted(
    [*(PACKAGE.parent / "tests").rglob("*.py"), *(PACKAGE.parent / "bench").glob("*.py")]
)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_tests_and_benches_use_no_private_names_either(path):
    # Of a library or of the product: a test that reaches private state tests a mechanism,
    # not what users see. (This file's own examples are strings, not code.)
    assert _private_library_names(_tree(path)) == []


def test_engine_listeners_are_bound_to_the_apps_engine():
    # A listener on the Engine class would apply to every engine in the process.
    for path in MODULES:
        assert "listens_for(Engine" not in path.read_text(), _name(path)


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "transaction.py"], ids=_name)
def test_only_the_transaction_helper_commits(path):
    # One domain call, one transaction: writes run under transaction.atomic, which commits
    # once; nothing asks the session whether a transaction is open to decide what to do.
    calls = _calls(_tree(path))
    assert [c for c in calls if c.endswith(("session.commit", "in_transaction"))] == []


def _module_name(path: Path) -> str:
    """spine_site/leads/intake.py -> leads.intake; a package's __init__.py -> leads."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each module's imports of other spine_site modules, TYPE_CHECKING ones included:
    `from spine_site.leads import intake` is an edge to leads.intake, not to leads."""
    names = {_module_name(p): p for p in MODULES}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        edges = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.split(".")[0] == "spine_site":
                module = node.module.removeprefix("spine_site").strip(".")
            else:
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}".strip(".")
                target = submodule if submodule in names else module
                if target != name and target in names:
                    edges.add(target)
        graph[name] = edges
    return graph


def test_no_import_cycles():
    graph = _import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def test_architecture_page_names_every_module():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    missing = [_name(p) for p in MODULES if f"`{_name(p)}`" not in page]
    assert missing == []


def test_every_package_says_its_job():
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(_tree(init)) or ""
        assert len(docstring.split()) >= 15, _name(init)


def test_few_modules_at_the_top():
    assert len([p for p in PACKAGE.glob("*.py")]) <= 12
