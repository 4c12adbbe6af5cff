"""Domain packages never import the dialect adapters or the web framework (rule 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "relatecrm"
DOMAINS = ["deals", "pipelines", "accounts", "events", "contacts", "products", "userfields",
           "limits"]  # fmt: skip
DOMAIN_MODULES = ["errors.py", "values.py", "listing.py", "db.py", "config.py", "context.py"]
FORBIDDEN = ("relatecrm.bitrix", "relatecrm.rest", "relatecrm.ui", "relatecrm.app",
             "relatecrm.cli", "fastapi", "starlette", "uvicorn", "typer", "httpx")  # fmt: skip


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _domain_files() -> list[Path]:
    files = [PACKAGE / name for name in DOMAIN_MODULES]
    for domain in DOMAINS:
        files.extend(sorted((PACKAGE / domain).rglob("*.py")))
    return files


@pytest.mark.parametrize("path", _domain_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_module_imports_no_adapter(path: Path) -> None:
    bad = {name for name in _imports(path) if name.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_sees_imports() -> None:
    """Guard against a checker that finds nothing: the adapter does import the framework."""
    assert any(n.startswith("starlette") for n in _imports(PACKAGE / "bitrix" / "endpoint.py"))
