"""Outbound edge: the worker that posts queued events over HTTP (``events`` holds the
queue and its rules; this package holds the sockets)."""
