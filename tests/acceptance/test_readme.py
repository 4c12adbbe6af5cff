"""The README's quick start works as printed: default SQLite, printed URL, curl block."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance

README = Path(__file__).resolve().parents[2] / "README.md"
PRINTED = re.compile(r"Webhook URL \(shown once\): (http://\S+/rest/1/[0-9a-f]+/)")


def _curl_block() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return next(block for block in blocks if "crm.deal.add" in block and "WEBHOOK=" in block)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README example uses curl")
def test_quick_start_curl_example(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELATECRM_")}
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "relatecrm", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            text = (tmp_path / "serve.log").read_text()
            url = url or (m.group(1) if (m := PRINTED.search(text)) else None)
            if url and "Uvicorn running" in text:
                break
            time.sleep(0.2)
        assert url, (tmp_path / "serve.log").read_text()
        assert (tmp_path / "var" / "relatecrm.db").exists(), "the default is ./var's SQLite file"
        # Run the README's block as printed, with only the example URL replaced by ours.
        block = re.sub(r"^WEBHOOK=\S+", f"WEBHOOK={url}", _curl_block(), flags=re.M)
        result = subprocess.run(
            ["bash", "-euc", block], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        # curl prints the two bodies back to back.
        added, end = json.JSONDecoder().raw_decode(result.stdout)
        listed, _ = json.JSONDecoder().raw_decode(result.stdout[end:])
        assert added["result"] == 1 and set(added["time"]) >= {"start", "duration"}
        assert listed["result"] == [{"ID": "1", "TITLE": "First deal", "OPPORTUNITY": "1500.00"}]
        assert listed["total"] == 1
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
