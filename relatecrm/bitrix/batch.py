"""The ``batch`` method: up to 50 method calls in one HTTP request (protocol spec §4).

Bitrix24 runs each command through its normal call path in a pseudo-server, one after
the other, and so do we: every command is its own method call with its own
transaction, page start, result, ``next``/``total``, time block and error. There is no
transaction around the batch, so a command that succeeded stays committed when a later
one fails (§4.8). The batch itself answers HTTP 200 whatever its commands did.

Commands are ``method?query`` strings whose query is decoded with PHP ``parse_str``;
values may refer to earlier commands' results (``$result[label][key]...``, also
``$next``, ``$total``, ``$time``, ``$error``), resolved as ``CRestUtil::processBatchElement``
does, partial walks included, because b24pysdk's ID-cursor paging depends on it (§4.4).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from relatecrm.accounts.service import Principal
from relatecrm.bitrix.call import BASIC, Call, Method
from relatecrm.bitrix.envelope import ListResult, error_body, php_json, time_block
from relatecrm.bitrix.errors import (
    ArgumentError,
    BatchLengthExceeded,
    BatchMethodNotAllowed,
    BitrixError,
    InsufficientScope,
    MethodNotFound,
)
from relatecrm.bitrix.params import ParamsLimitError, parse_php_query
from relatecrm.bitrix.request import split_params
from relatecrm.errors import CrmError

log = logging.getLogger("relatecrm.rest")

# CRestUtil::BATCH_MAX_LENGTH: later commands are not run, each gets an error entry.
MAX_COMMANDS = 50
# File transfer pseudo-methods, refused inside a batch like a nested `batch` (§4.5).
NOT_IN_BATCH = frozenset({"download", "upload"})


async def _refuse(call: Call) -> Any:
    """``batch`` as a command of a batch: refused since rest 24.0.0."""
    raise BatchMethodNotAllowed()


# The method-table entry. The endpoint recognises it by identity and hands the request to
# `BatchRunner` instead of calling the handler; scope "basic": every caller may use it.
METHOD = Method(_refuse, scope=BASIC)


@dataclass(frozen=True)
class Done:
    """A command that succeeded, rendered inside its own transaction.

    ``value`` is what later commands' references walk; ``body`` is the same value
    already serialised, so that nothing after the command's COMMIT can fail to encode.
    """

    value: Any
    body: orjson.Fragment
    next: int | None
    total: int | None
    time: dict[str, Any]


# (result returned by the handler, when it began, seconds it took) -> what to keep.
Render = Callable[[Any, float, float], Done]
# Runs one method call for the principal in its own transaction: the endpoint's `call`.
RunCall = Callable[[Method, dict[str, Any], Principal, Render], Awaitable[Done]]
Lookup = Callable[[str], Method | None]


def read_commands(params: dict[str, Any]) -> tuple[list[tuple[str, Any]], bool]:
    """(labelled commands in order, halt) from the batch's parameters.

    Bitrix upper-cases the top-level keys (``cmd``, ``CMD`` and ``Cmd`` all work, the
    last one wins). A missing ``cmd`` is an empty batch, as PHP's ``isset`` makes it and
    as CRest sends it for an empty command list; a ``cmd`` that is neither an array nor
    an object is refused, instead of PHP's silent nothing.
    """
    cmd: Any = None
    halt: Any = None
    for key, value in params.items():
        name = key.upper()
        if name == "CMD":
            cmd = value
        elif name == "HALT":
            halt = value
    if cmd is None:
        commands: list[tuple[str, Any]] = []
    elif isinstance(cmd, dict):
        commands = [(str(label), command) for label, command in cmd.items()]
    elif isinstance(cmd, list):
        commands = [(str(index), command) for index, command in enumerate(cmd)]
    else:
        raise ArgumentError("Parameter 'cmd' must be an array or an object of commands.", "cmd")
    return commands, read_halt(halt)


FALSE_WORDS = frozenset({"", "0", "n", "false"})


def read_halt(value: Any) -> bool:
    """``halt`` as the clients spell it: JSON booleans, 1/0, "1"/"0", Y/N, true/false.

    PHP's ``(bool)`` would make ``"N"`` and ``"false"`` true; no client relies on that,
    and a reader of ``halt=false`` expects false, so those words mean false here.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def split_command(command: str) -> tuple[str, str]:
    """(method, query) of ``method?query`` as PHP ``parse_url`` splits it (fragment dropped)."""
    path, _, query = command.partition("#")[0].partition("?")
    return path, query


# ---- references to earlier results -------------------------------------------------------

# `\$(result|next|total|time|error)([^\s]*)`, lower case only (spec §4.4 allows either);
# PCRE's \s without /u is ASCII whitespace, so the tail stops only there.
REFERENCE = re.compile(r"\$(result|next|total|time|error)([^ \t\n\v\f\r]*)")
SEGMENT = re.compile(r"\[([^\]]+)\]")
CANONICAL_INT = re.compile(r"0|[1-9][0-9]*")


def _step(node: Any, key: str) -> tuple[bool, Any]:
    """PHP ``isset($node[$key])`` and the value it guards."""
    if isinstance(node, dict):
        value = node.get(key)
        return value is not None, value
    if isinstance(node, list | str) and CANONICAL_INT.fullmatch(key):
        index = int(key)
        if index < len(node) and node[index] is not None:
            return True, node[index]
    return False, None


def _as_text(value: Any) -> str | None:
    """What PHP splices into a longer string: numbers and strings; anything else is left."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        # PHP 8 prints the shortest round-trip form, and whole floats without ".0".
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


@dataclass
class Earlier:
    """What commands so far produced, keyed by label: what ``$result[...]`` & co. walk.

    Resolving is budgeted: references copy earlier results into a command's parameters,
    and without a cap a small command could ask for the same large result thousands of
    times over. ``max_chars`` bounds what one command's references may add, measured as
    JSON text.
    """

    groups: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: {} for name in ("result", "next", "total", "time", "error")}
    )
    max_chars: int = 8 * 1024 * 1024
    _spent: int = field(default=0, init=False, repr=False)

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``params`` with references in values resolved (keys are left alone)."""
        self._spent = 0
        return {key: self._value(value) for key, value in params.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        if isinstance(value, str) and "$" in value:
            return self._string(value)
        return value

    def _spend(self, chars: int) -> None:
        self._spent += chars
        if self._spent > self.max_chars:
            raise ArgumentError(
                f"References add more than {self.max_chars} characters to the command.", "cmd"
            )

    def _walk(self, match: re.Match[str]) -> tuple[bool, Any]:
        """(has a path, value reached): the walk stops, keeping what it has, at a missing key."""
        path = SEGMENT.findall(match.group(2))
        if not path:
            return False, None
        node: Any = self.groups[match.group(1)]
        for key in path:
            found, child = _step(node, key)
            if not found:
                break
            node = child
        return True, node

    def _string(self, value: str) -> Any:
        whole = REFERENCE.fullmatch(value)
        if whole is not None:
            has_path, reached = self._walk(whole)
            if not has_path:
                return value
            # The whole value is a reference: it takes the referenced value, type and all,
            # as a copy (a JSON round trip, which also measures it) so no call can alter
            # what later references see.
            if isinstance(reached, dict | list):
                encoded = orjson.dumps(reached)
                self._spend(len(encoded))
                return orjson.loads(encoded)
            self._spend(len(reached) if isinstance(reached, str) else 1)
            return reached

        def splice(match: re.Match[str]) -> str:
            has_path, reached = self._walk(match)
            text = _as_text(reached) if has_path else None
            if text is None:
                return match.group(0)
            self._spend(len(text))
            return text

        return REFERENCE.sub(splice, value)


# ---- the batch -----------------------------------------------------------------------------


def php_array(entries: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """A label map as PHP ``json_encode`` writes the array: ``[]`` when empty, a JSON list
    when the labels are exactly ``"0".."n-1"`` in order (array ``cmd``, b24pysdk's
    ``as_list``), an object otherwise (``cmd0``, ``"1".."50"``, IDs as labels)."""
    if all(label == str(index) for index, label in enumerate(entries)):
        return list(entries.values())
    return entries


def error_entry(error: CrmError) -> dict[str, Any]:
    """A failed command as ``result_error`` shows it: the body the call alone would get."""
    if isinstance(error, InsufficientScope):
        # CRestServerBatchItem::checkAuth reports a missing scope with an empty description.
        error = InsufficientScope("")
    entry: dict[str, Any] = orjson.loads(error_body(error)[1])
    return entry


class BatchRunner:
    """Runs a batch's commands one after another through the endpoint's call path."""

    def __init__(
        self,
        run_call: RunCall,
        lookup: Lookup,
        *,
        tz: dt.tzinfo,
        operating: bool,
        max_keys: int,
        max_depth: int,
        max_chars: int,
    ) -> None:
        self.run_call = run_call
        self.lookup = lookup
        self.tz = tz
        self.operating = operating
        self.max_keys = max_keys
        self.max_depth = max_depth
        self.max_chars = max_chars

    async def run(self, params: dict[str, Any], principal: Principal, started: float) -> bytes:
        """The whole reply body of a batch request (HTTP 200)."""
        commands, halt = read_commands(params)
        earlier = Earlier(max_chars=self.max_chars)
        # Results already serialised, by label; the other maps are the reference groups.
        bodies: dict[str, orjson.Fragment] = {}
        began = time.time()
        for count, (label, command) in enumerate(commands):
            if count >= MAX_COMMANDS:
                outcome: Done | dict[str, Any] = error_entry(BatchLengthExceeded())
            elif not isinstance(command, str):
                continue  # Bitrix skips a command that is not a string: no result, no error.
            else:
                outcome = await self._command(command, principal, earlier)
            self._record(label, outcome, earlier.groups, bodies)
            if halt and not isinstance(outcome, Done):
                break
        processing = time.time() - began
        groups = earlier.groups
        maps = {
            "result": php_array(bodies),
            "result_error": php_array(groups["error"]),
            "result_total": php_array(groups["total"]),
            "result_next": php_array(groups["next"]),
            "result_time": php_array(groups["time"]),
        }
        reply_time = time_block(started, processing, self.tz, operating=self.operating)
        return orjson.dumps({"result": maps, "time": reply_time})

    async def _command(
        self, command: str, principal: Principal, earlier: Earlier
    ) -> Done | dict[str, Any]:
        """Run one command; its error entry if it fails in any way (never an exception)."""
        name, query = split_command(command)
        try:
            method = self._method(name)
            try:
                decoded = parse_php_query(query, max_keys=self.max_keys, max_depth=self.max_depth)
            except ParamsLimitError as exc:
                raise ArgumentError(exc.reason, "cmd") from None
            # Credentials in a command are dropped: the batch's principal runs every command.
            params, _credentials = split_params(decoded)
            return await self.run_call(method, earlier.resolve(params), principal, self._render)
        except CrmError as error:
            return error_entry(error)
        except Exception:
            # Earlier commands may have committed: answering 500 now would make clients
            # retry them. Log the bug, report this command as failed, go on.
            log.exception("internal error in batch command %r", name[:100])
            return error_entry(BitrixError())

    def _method(self, name: str) -> Method:
        if name.strip().lower() in NOT_IN_BATCH:
            raise BatchMethodNotAllowed()
        method = self.lookup(name)
        if method is None:
            raise MethodNotFound()
        if method is METHOD:
            raise BatchMethodNotAllowed()
        return method

    def _render(self, result: Any, began: float, processing: float) -> Done:
        """Called inside the command's transaction, so an encoding failure rolls it back."""
        next_: int | None = None
        total: int | None = None
        if isinstance(result, ListResult):
            result, next_, total = result.items, result.next, result.total
        value = php_json(result)
        return Done(
            value=value,
            body=orjson.Fragment(orjson.dumps(value)),
            next=next_,
            total=total,
            time=time_block(began, processing, self.tz, operating=self.operating),
        )

    @staticmethod
    def _record(
        label: str,
        outcome: Done | dict[str, Any],
        groups: dict[str, dict[str, Any]],
        bodies: dict[str, orjson.Fragment],
    ) -> None:
        """Keep a command's outcome where the reply and later references find it, as
        ``methodsBatch`` does: ``next``/``total`` only when the call had them, a time
        block only for a success."""
        if not isinstance(outcome, Done):
            groups["error"][label] = outcome
            return
        groups["result"][label] = outcome.value
        bodies[label] = outcome.body
        if outcome.total is not None:
            groups["total"][label] = outcome.total
        if outcome.next is not None:
            groups["next"][label] = outcome.next
        groups["time"][label] = outcome.time
