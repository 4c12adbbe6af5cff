"""Run the bench app under uvicorn in a subprocess, as ``relatecrm serve`` runs the real one.

Same server stack as ``relatecrm serve``: uvicorn with its default (auto) loop and
HTTP implementations, one worker, access log off, proxy headers off, settings from
``RELATECRM_*`` variables. The only differences are the app factory
(``bench.app:create_bench_app``, which adds ``/floor/``) and that migrations and
user 1 were prepared by the harness beforehand. The process is always stopped
(SIGTERM, then SIGKILL) when the ``with`` block ends, whatever happened inside.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """``with Server(database_url, log_path) as server: server.base_url``."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.app:create_bench_app",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--no-proxy-headers",
            "--log-level",
            "warning",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RELATECRM_DATABASE_URL=self.database_url,
            RELATECRM_HOST=HOST,
            RELATECRM_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        return env

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            # Its own session: a Ctrl-C in the terminal reaches the harness, which then
            # stops the server itself, instead of both racing to shut down.
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if (
                    httpx.get(f"{self.base_url}/healthz", timeout=1.0, trust_env=False).status_code
                    == 200
                ):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /healthz in {STARTUP_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
