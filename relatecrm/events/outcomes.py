"""What one delivery attempt came to: the worker's transport reports it, the queue
(``events.deliveries``) decides from it what happens next."""

from __future__ import annotations

from dataclasses import dataclass

SUCCESS = "success"
HTTP_ERROR = "http_error"
REDIRECT = "redirect"
GONE = "gone"
TIMEOUT = "timeout"
NETWORK = "network"
BLOCKED = "blocked"
MAX_ERROR = 500


@dataclass(frozen=True)
class Answer:
    """What one POST came to."""

    outcome: str
    duration_ms: int
    status_code: int | None = None
    body: str | None = None
    error: str | None = None
    retry_after: str | None = None
    address: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == SUCCESS


def classify(status: int) -> str:
    """2xx succeeds, 410 disables the handler, 3xx and everything else fail (Svix)."""
    if 200 <= status < 300:
        return SUCCESS
    if status == 410:
        return GONE
    if 300 <= status < 400:
        return REDIRECT
    return HTTP_ERROR
