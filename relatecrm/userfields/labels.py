"""The five per-language texts of a custom field, and the languages they are kept in.

Bitrix stores one row per installed portal language (``b_user_field_lang``) and answers
``crm.deal.userfield.get`` with a map over all of them. We keep the languages of the
cloud portal in the docs' real ``get`` example, so a client that reads ``["de"]`` or
``["ru"]`` finds a key, and a string label is applied to every one of them, as the
docs say ("When a string is provided, it will be set for all language identifiers").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relatecrm.errors import InvalidFieldValue

# The language keys of the real crm.deal.userfield.get example (b24restdocs
# crm-deal-userfield-get.md), in its order: the docs' language table plus "in" and "kz".
LANGUAGES = ("ar", "br", "de", "en", "fr", "hi", "id", "in", "it", "ja", "kz", "la",
             "ms", "pl", "ru", "sc", "tc", "th", "tr", "ua", "vn")  # fmt: skip
# The label kinds, in the order Bitrix renders them.
KINDS = ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE",
         "HELP_MESSAGE")  # fmt: skip
# b_user_field_lang columns are varchar(255).
MAX_LABEL = 255

Labels = dict[str, dict[str, str]]


def _text(value: Any, kind: str) -> str:
    """A label text: strings as given, numbers spelled out; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidFieldValue(kind, kind)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_LABEL or "\x00" in text:
        raise InvalidFieldValue(kind, kind)
    return text


def default_label(value: Any) -> str:
    """``LABEL``, trimmed; an empty string means "use the field name" to the caller."""
    if value is None:
        return ""
    return _text(value, "LABEL").strip()


def prepare(kind: str, value: Any, default: str) -> dict[str, str]:
    """One label kind for every language, as Bitrix's ``prepareLabels`` builds it.

    A non-empty string is every language's text. A map gives the languages it names
    (unknown language keys are dropped, as Bitrix loops over installed languages only);
    the others, and empty entries, get ``default``: ``LABEL`` (or the field name) on
    add, ``""`` on update.
    """
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = _text(value, kind)
        if text:
            return dict.fromkeys(LANGUAGES, text)
        value = None
    if value is None or value == []:
        given: Mapping[str, Any] = {}
    elif isinstance(value, Mapping):
        given = value
    else:
        raise InvalidFieldValue(kind, kind)
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        item = given.get(lang)
        text = "" if item is None else _text(item, kind)
        out[lang] = text or default
    return out


def for_language(labels: Labels, lang: str) -> dict[str, str | None]:
    """Each kind's text in ``lang`` (``None`` where there is none), for ``filter.LANG``."""
    return {kind: labels.get(kind, {}).get(lang) for kind in KINDS}
