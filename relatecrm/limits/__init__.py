"""Request limits as Bitrix24 applies them, off unless configured.

Two independent limits, both keyed on the calling credential (a webhook, or an OAuth
application acting for one user):

- ``bucket``: a leaky bucket of requests (burst 50, draining 2 per second by default);
  an overflowing request is refused before any method runs.
- ``operating``: seconds of method execution per method within a sliding window
  (480 s per 10 minutes by default); once over, the next call of that method is refused.

State lives in the database, not in process memory, so that several server processes
behind a load balancer enforce one limit between them. Every function takes the clock
reading ``now`` (Unix seconds) from its caller, so tests never sleep.
"""
