"""Turning an HTTP request into Bitrix parameters (protocol spec §1.3).

Query string and body are merged with body keys winning at the top level; the body
is JSON when the Content-Type says so and PHP ``parse_str`` otherwise. Unlike PHP,
limits are enforced loudly: an oversized, too-deep or malformed body is refused
before any method runs, so nothing is ever acted on half-read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from relatecrm.bitrix.errors import ArgumentError, RequestTooLarge
from relatecrm.bitrix.params import ParamsLimitError, merge_params, parse_php_query

# Credentials and transport parameters never reach a method (`parameters_clear`).
STRIPPED = frozenset({"auth", "access_token", "auth_connector", "state", "ap", "aplogin"})


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"Request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_json_shape(value: Any, max_keys: int, max_depth: int) -> None:
    """Apply the same key-count and depth limits to JSON as to form data."""
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ArgumentError(
                f"Parameters are nested too deeply: more than {max_depth} levels.", "body"
            )
        if isinstance(node, dict):
            keys += len(node)
            stack.extend((item, depth + 1) for item in node.values())
        elif isinstance(node, list):
            keys += len(node)
            stack.extend((item, depth + 1) for item in node)
        if keys > max_keys:
            raise ArgumentError(f"Too many parameters: more than {max_keys} keys.", "body")


def decode_json(body: bytes, max_keys: int, max_depth: int) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ArgumentError("Request body is not valid JSON.", "body") from None
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ArgumentError("Request body must be a JSON object.", "body")
    _check_json_shape(value, max_keys, max_depth)
    return value


def decode_form(raw: bytes | str, max_keys: int, max_depth: int) -> dict[str, Any]:
    try:
        return parse_php_query(raw, max_keys=max_keys, max_depth=max_depth)
    except ParamsLimitError as exc:
        raise ArgumentError(exc.reason, "body") from None


async def read_params(
    request: Request, *, max_body: int, max_keys: int, max_depth: int
) -> dict[str, Any]:
    """All parameters of a call, auth parameters included (the caller strips them)."""
    query = decode_form(request.url.query, max_keys, max_depth)
    if request.method != "POST":
        return query
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await read_body(request, max_body)
    if content_type == "multipart/form-data":
        body = await decode_multipart(request, raw, max_keys, max_depth)
    elif not raw.strip():
        body = {}
    elif content_type == "application/json":
        body = decode_json(raw, max_keys, max_depth)
    else:
        body = decode_form(raw, max_keys, max_depth)
    return merge_params(query, body)


async def decode_multipart(
    request: Request, raw: bytes, max_keys: int, max_depth: int
) -> dict[str, Any]:
    """Multipart fields are flat ``name=value`` pairs: decode their names like a form."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=0, max_fields=max_keys)
    except (HTTPException, MultiPartException) as exc:
        raise ArgumentError(f"Malformed multipart body: {exc}", "body") from None
    pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    return decode_form(urlencode(pairs), max_keys, max_depth)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(method parameters, credentials)."""
    method_params: dict[str, Any] = {}
    credentials: dict[str, Any] = {}
    for key, value in params.items():
        (credentials if key.lower() in STRIPPED else method_params)[key] = value
    return method_params, credentials
