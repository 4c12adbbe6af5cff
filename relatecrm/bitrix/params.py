"""PHP ``parse_str`` decoding and Bitrix-style parameter lookup.

Bitrix24 reads query strings, form bodies and every ``batch`` command string
with PHP ``parse_str``, and clients depend on its exact behaviour: encoded
brackets, ``[]`` appends, ``+`` as a space, dots in top-level names turning
into underscores.  Reproducing it here keeps every client that works against
Bitrix24 working against us (protocol spec §1.3, §1.4, §1.6).

Where PHP differs between versions we follow PHP 8.0-8.2, which is what
Bitrix24 runs.  We depart from PHP in one way on purpose: where PHP silently
truncates input (``max_input_vars``) or drops a variable
(``max_input_nesting_level``), we raise :class:`ParamsLimitError` so the caller
can answer with a clear error instead of acting on half a request.

Chosen behaviours, all matching PHP unless marked:

* Repeated keys: the last write wins at the path it names.  A scalar later
  used as an array becomes an array (``x=1&x[a]=2`` gives ``{"x": {"a": "2"}}``),
  and an array later assigned a scalar becomes that scalar (``x[a]=2&x=1``
  gives ``{"x": "1"}``).
* ``[]`` appends at ``max(non-negative integer keys) + 1`` (PHP before 8.3;
  negative keys do not move the counter).
* A decoded key is cut at its first NUL byte (PHP treats names as C strings);
  values keep NUL bytes.
* Leading spaces of a name are dropped; in the top-level name ``.`` and space
  become ``_``; inside brackets names are kept verbatim.
* A ``[`` with no closing ``]`` is not a bracket: right after the top-level
  name it becomes ``_`` and, as in PHP 8, any ``' '``, ``'.'`` or ``'['`` after
  it becomes ``_`` too (``a[b.c=1`` gives ``a_b_c``).  Deeper down, the
  unmatched tail is ignored (``a[b][c=1`` gives ``{"a": {"b": "1"}}``), and so
  is any text after a ``]`` that is not another ``[``.
* A name that is empty after this (``=x``, ``[a]=x``) is dropped, as is one
  that mangling turned into a ``__Host-``/``__Secure-`` prefix.
* A bracket holding only one whitespace character (``a[ ]``) appends, like
  ``a[]``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = [
    "ParamsLimitError",
    "has_param",
    "merge_params",
    "parse_php_query",
    "php_list",
    "resolve",
]

# PHP turns canonical decimal strings in this range into integer keys; only
# those keys move the ``[]`` append counter.
_PHP_INT_KEY = re.compile(r"-?[1-9][0-9]*|0")
_LIST_INDEX = re.compile(r"[1-9][0-9]*|0")
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
# C isspace() in the "C" locale: PHP skips one of these after "[".
_C_SPACE = frozenset(" \t\n\v\f\r")
_COOKIE_PREFIXES = ("__Host-", "__Secure-")

# A parsed key: top-level name plus bracket segments; None means "[]".
_Segments = list[str | None]


class ParamsLimitError(ValueError):
    """Input is larger or deeper than we agree to decode.

    A distinct type lets the HTTP layer tell a hostile or broken request from
    an ordinary bad parameter and answer it with ``reason`` verbatim.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _php_int(key: str) -> int | None:
    """Return the integer PHP would store ``key`` as, so appends number like PHP."""
    if _PHP_INT_KEY.fullmatch(key) is None:
        return None
    value = int(key)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def _decode(part: bytes) -> str:
    """Percent-decode like PHP ``urldecode``; bad UTF-8 becomes U+FFFD, never an error."""
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8", "replace")


def _split_name(name: str, max_depth: int) -> tuple[str, _Segments] | None:
    """Split a decoded name into top-level name and segments, or None to drop it.

    Mirrors ``php_register_variable_ex`` step by step, because the odd cases
    (unmatched brackets, junk after ``]``) are where clients differ.
    """
    name = name.split("\0", 1)[0].lstrip(" ")
    bracket = name.find("[")
    head = name if bracket < 0 else name[:bracket]
    top = head.replace(" ", "_").replace(".", "_")
    if top.startswith(_COOKIE_PREFIXES) and not name.startswith(_COOKIE_PREFIXES):
        return None
    if not top:
        return None
    segments: _Segments = []
    pos = bracket
    while pos >= 0:
        if len(segments) + 1 > max_depth:
            raise ParamsLimitError(
                f"Parameters are nested too deeply: more than {max_depth} levels."
            )
        start = pos + 1
        probe = start + 1 if name[start : start + 1] in _C_SPACE else start
        if name.startswith("]", probe):
            close = probe
            segments.append(None)
        else:
            close = name.find("]", probe)
            if close < 0:
                if not segments:
                    rest = name[start:]
                    for char in " .[":
                        rest = rest.replace(char, "_")
                    top = f"{top}_{rest}"
                break
            segments.append(name[start:close])
        pos = close + 1 if name.startswith("[", close + 1) else -1
    return top, segments


class _Builder:
    """Holds the result tree plus each container's next ``[]`` index.

    The counters live beside the dicts (keyed by ``id``) because results must
    be plain dicts; keeping a reference to each dict stops a discarded one
    from being freed and its ``id`` reused by a new container.
    """

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}
        self._next: dict[int, tuple[dict[str, Any], int]] = {}

    def _new(self) -> dict[str, Any]:
        container: dict[str, Any] = {}
        self._next[id(container)] = (container, 0)
        return container

    def _claim(self, container: dict[str, Any], key: str | None) -> str | None:
        """Return the key to write (allocating one for ``[]``), or None if PHP would refuse."""
        if container is self.result:
            return key
        _, nxt = self._next[id(container)]
        if key is None:
            if nxt > _LONG_MAX:
                return None
            self._next[id(container)] = (container, nxt + 1)
            return str(nxt)
        number = _php_int(key)
        if number is not None and number >= nxt:
            self._next[id(container)] = (container, number + 1)
        return key

    def store(self, top: str, segments: _Segments, value: str) -> None:
        container = self.result
        key: str | None = top
        for segment in segments:
            slot = self._claim(container, key)
            if slot is None:
                return
            child = container.get(slot) if key is not None else None
            if not isinstance(child, dict):
                child = self._new()
                container[slot] = child
            container, key = child, segment
        slot = self._claim(container, key)
        if slot is not None:
            container[slot] = value


def parse_php_query(
    raw: str | bytes, *, max_keys: int = 5000, max_depth: int = 32
) -> dict[str, Any]:
    """Decode a query string, form body or batch command like PHP ``parse_str``.

    Containers are always ``dict[str, Any]`` (PHP arrays) and leaves always
    ``str``: PHP does not tell a list from a map keyed 0..n-1, so that choice
    belongs to the caller (see :func:`php_list`).  Raises only
    :class:`ParamsLimitError`, for more than ``max_keys`` pairs or more than
    ``max_depth`` bracket levels in one name.
    """
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    pieces = [piece for piece in data.split(b"&") if piece]
    if len(pieces) > max_keys:
        raise ParamsLimitError(f"Too many parameters: more than {max_keys} keys.")
    builder = _Builder()
    for piece in pieces:
        name, sep, value = piece.partition(b"=")
        parsed = _split_name(_decode(name), max_depth)
        if parsed is not None:
            builder.store(parsed[0], parsed[1], _decode(value) if sep else "")
    return builder.result


def php_list(value: Any) -> list[Any] | None:
    """Return ``value`` as a list if PHP would have sent it as one, else None.

    Form and batch encodings turn lists into maps keyed ``"0".."n-1"``; the
    methods that expect a list (``select``, ``CONTACT_IDS``, ``PHONE``) call
    this to accept both shapes.  Keys may be in any order; gaps, duplicates,
    non-canonical numbers (``"01"``) or other keys mean "not a list".
    """
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    by_index: dict[int, Any] = {}
    for key, item in value.items():
        if isinstance(key, bool):
            return None
        if isinstance(key, int):
            index: int | None = key
        elif isinstance(key, str) and _LIST_INDEX.fullmatch(key):
            index = int(key)
        else:
            index = None
        if index is None or index < 0 or index >= len(value) or index in by_index:
            return None
        by_index[index] = item
    return [by_index[i] for i in range(len(value))]


def merge_params(query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Combine query and body parameters as Bitrix's ``array_replace`` does.

    Only top-level keys are replaced, never merged deeper: a body ``fields``
    fully hides a query ``fields``, which is what clients observe on Bitrix24.
    """
    return {**query, **body}


def _candidates(name: str) -> list[str]:
    capitalized = name[:1].upper() + name[1:].lower()
    return [name, name.upper(), name.lower(), capitalized, f"ar{capitalized}"]


def resolve(params: dict[str, Any], name: str) -> Any | None:
    """Look up a top-level parameter the way classic CRM methods accept it.

    Bitrix tries ``FIELDS``, ``fields``, ``Fields`` and ``arFields``; we try the
    exact spelling first, then those, then any case-insensitive match (a
    superset that cannot break a client, spec §1.6).  Like PHP ``isset``, a
    None value counts as absent so a later spelling can still supply it.
    """
    for candidate in _candidates(name):
        value = params.get(candidate)
        if value is not None:
            return value
    folded = name.lower()
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == folded and value is not None:
            return value
    return None


def has_param(params: dict[str, Any], name: str) -> bool:
    """Say whether :func:`resolve` finds ``name``, for "is it required?" checks."""
    return resolve(params, name) is not None
