"""docs/compatibility.md and bitrix/methods.py list the same implemented methods."""

from __future__ import annotations

import re
from pathlib import Path

from relatecrm.bitrix.methods import METHODS, find_method

DOC = Path(__file__).parent.parent / "docs" / "compatibility.md"
ROW = re.compile(r"^\| `([A-Za-z0-9_.]+)` \| (implemented|planned|not planned) \|", re.M)


def _rows() -> dict[str, str]:
    rows = ROW.findall(DOC.read_text(encoding="utf-8"))
    assert rows, "the method table was not found"
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a method is listed twice"
    return dict(rows)


def test_implemented_rows_are_the_method_table() -> None:
    implemented = {name.lower() for name, status in _rows().items() if status == "implemented"}
    assert implemented == set(METHODS)


def test_the_seed_deal_methods_are_all_listed() -> None:
    rows = _rows()
    for name in ("crm.deal.add", "crm.deal.productrows.set", "crm.deal.contact.items.set",
                 "crm.deal.userfield.add", "crm.deal.recurring.expose",
                 "crm.deal.details.configuration.forceCommonScopeForAll", "crm.stagehistory.list",
                 "crm.item.update", "event.bind", "batch"):  # fmt: skip
        assert name in rows, name


def test_lookup_is_case_insensitive() -> None:
    assert find_method("crm.deal.List") is METHODS["crm.deal.list"]
    assert find_method("CRM.DEAL.GET") is METHODS["crm.deal.get"]
    assert find_method("crm.deal.nope") is None
