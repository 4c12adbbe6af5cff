"""Fixtures that run ``relatecrm serve`` as a real subprocess on a TLS socket.

Every test gets its own server process and its own empty database (through the
shared ``empty_database_url`` fixture, parametrized over the backends), so the
tests can count and list deals without seeing each other's data.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from b24pysdk import BitrixWebhook, Client

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway CA and a server certificate it signed."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


@dataclass
class RunningServer:
    """A live ``relatecrm serve`` process and a webhook created on it."""

    public_url: str
    webhook_url: str
    user_id: int
    webhook_code: str
    ca_pem: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    stopped_by_test: bool = False

    @property
    def domain(self) -> str:
        """Host and port, the form b24pysdk's ``BitrixWebhook`` takes."""
        return self.public_url.removeprefix("https://")

    @property
    def webhook_token(self) -> str:
        """``user_id/code``, the form b24pysdk's ``BitrixWebhook`` takes."""
        return f"{self.user_id}/{self.webhook_code}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float) -> float | None:
        """Send SIGTERM; the seconds it took to exit, or None (then it is killed)."""
        self.stopped_by_test = True
        started = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            return None
        return time.monotonic() - started


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    files = TLSFiles(
        ca_pem=directory / "ca.pem",
        cert_pem=directory / "server.pem",
        key_pem=directory / "server.key",
    )
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server_cert.private_key_pem.write_to_path(str(files.key_pem))
    # The leaf first, then any intermediates, as uvicorn's certfile expects.
    files.cert_pem.write_bytes(b"".join(blob.bytes() for blob in server_cert.cert_chain_pems))
    return files


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_environment(database_url: str, public_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["RELATECRM_DATABASE_URL"] = database_url
    env["RELATECRM_PUBLIC_URL"] = public_url
    env["PYTHONUNBUFFERED"] = "1"
    # The package runs from the working tree whether or not it is installed.
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if part
    )
    return env


def _tls_handshake_succeeds(port: int, context: ssl.SSLContext) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return True
    except (OSError, ssl.SSLError):
        return False


def _wait_until_serving(
    process: subprocess.Popen[bytes], port: int, ca_pem: Path, log_path: Path
) -> None:
    context = ssl.create_default_context(cafile=str(ca_pem))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"relatecrm serve exited with code {process.returncode} before serving:\n"
                + log_path.read_text(errors="replace")
            )
        if _tls_handshake_succeeds(port, context):
            return
        time.sleep(0.1)
    pytest.fail(
        f"relatecrm serve did not accept TLS on port {port} within {STARTUP_TIMEOUT:.0f} s:\n"
        + log_path.read_text(errors="replace")
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT)


def _create_webhook(env: dict[str, str], cwd: Path, public_url: str) -> tuple[int, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "relatecrm", "webhook", "create", "--user", "1", "--scope", "crm"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"webhook create failed ({completed.returncode}):\n"
        f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"webhook create must print exactly one line, got {lines!r}"
    match = re.fullmatch(re.escape(public_url) + r"/rest/(\d+)/([^/\s]+)/", lines[0].strip())
    assert match, f"webhook create printed an unexpected URL: {lines[0]!r}"
    return int(match.group(1)), match.group(2)


@pytest.fixture
def relatecrm_server(
    empty_database_url: str, tls_files: TLSFiles, tmp_path: Path
) -> Iterator[RunningServer]:
    """Start ``python -m relatecrm serve`` over TLS on a free port; stop it afterwards."""
    port = _free_port()
    public_url = f"https://localhost:{port}"
    env = _server_environment(empty_database_url, public_url)
    workdir = tmp_path / "server"
    workdir.mkdir()
    log_path = tmp_path / "server.log"

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "relatecrm",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ssl-certfile",
                str(tls_files.cert_pem),
                "--ssl-keyfile",
                str(tls_files.key_pem),
            ],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(process, port, tls_files.ca_pem, log_path)
        user_id, code = _create_webhook(env, workdir, public_url)
        server = RunningServer(
            public_url=public_url,
            webhook_url=f"{public_url}/rest/{user_id}/{code}/",
            user_id=user_id,
            webhook_code=code,
            ca_pem=tls_files.ca_pem,
            log_path=log_path,
            process=process,
        )
        yield server
        crashed = process.poll()
        assert server.stopped_by_test or crashed is None, (
            f"relatecrm serve died during the test (exit code {crashed}):\n"
            + log_path.read_text(errors="replace")
        )
    finally:
        _stop(process)


@pytest.fixture
def client(relatecrm_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(relatecrm_server.ca_pem))
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    webhook = BitrixWebhook(
        domain=relatecrm_server.domain, webhook_token=relatecrm_server.webhook_token
    )
    yield Client(webhook, timeout=60)
    # An SDK exception keeps its response, and so an idle TLS connection, alive in a
    # reference cycle; collect it so the server is stopped with no client attached.
    # (A server's slow stop with an idle client is covered in test_form_http.py.)
    gc.collect()
