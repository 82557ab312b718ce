"""No package imports another package's private module."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: Private packages named as shared: any package of the distribution may import them.
SHARED = ("panicquota._shared",)
_MODULE_NAME = re.compile(r"(?:panicquota|pytest_panicquota)(?:\.\w+)+")


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _owner(target: str) -> str | None:
    """Return the package whose private module *target* is, or None for a public one."""
    parts = target.split(".")
    if parts[0] not in ("panicquota", "pytest_panicquota"):
        return None  # redis-py's internals: pinned by tests/plugin/test_redis_internals.py
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:index])
            return None if ".".join(parts[: index + 1]) in SHARED else owner
    return None


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                if alias.name.startswith("_"):  # from package import _private
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            # Lazy imports by name: importlib.import_module("pkg._mod"), -m targets.
            and _MODULE_NAME.fullmatch(node.value)
        ):
            yield node.lineno, node.value


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Return each import in *source* of a private module of a package other than its own."""
    package = _package_of(module, is_package)
    found = []
    for line, target in _imported(ast.parse(source)):
        owner = _owner(target)
        if owner is None or package == owner or package.startswith(f"{owner}."):
            continue
        found.append(f"{module}:{line} imports {target} (private to {owner})")
    return found


def test_no_package_imports_another_packages_private_module() -> None:
    """Walking src/, every private module is imported only from its package or below it."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        found += violations(module, path.read_text(encoding="utf-8"), is_package)
    assert found == []


def test_the_walker_finds_each_kind_of_leak() -> None:
    """Imports, from-imports, private names and lazy names by string are all caught."""
    source = (
        "import panicquota.certification._checks\n"
        "from panicquota.simulation._real import RealModeError\n"
        "from panicquota.breaker import _core\n"
        "HOME = 'pytest_panicquota._journal'\n"
        "from panicquota._shared.state import plain\n"
        "from panicquota._validate import require_number\n"
        "from panicquota.simulation import simulate\n"
        "from redis._parsers.commands import CommandsParser\n"
    )
    assert violations("panicquota.simulation._engine", source) == [
        "panicquota.simulation._engine:1 imports panicquota.certification._checks "
        "(private to panicquota.certification)",
        "panicquota.simulation._engine:3 imports panicquota.breaker._core "
        "(private to panicquota.breaker)",
        "panicquota.simulation._engine:4 imports pytest_panicquota._journal "
        "(private to pytest_panicquota)",
    ]
    assert violations("pytest_panicquota.plugin", source) == [
        "pytest_panicquota.plugin:1 imports panicquota.certification._checks "
        "(private to panicquota.certification)",
        "pytest_panicquota.plugin:2 imports panicquota.simulation._real "
        "(private to panicquota.simulation)",
        "pytest_panicquota.plugin:3 imports panicquota.breaker._core "
        "(private to panicquota.breaker)",
        "pytest_panicquota.plugin:6 imports panicquota._validate (private to panicquota)",
    ]
