"""The relatecrm command in-process, against fresh databases on both backends."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from relatecrm.cli import app
from relatecrm.events import signing

URL = re.compile(r"^https://crm\.example\.com/rest/(\d+)/([0-9a-f]{16})/$")


@pytest.fixture
def run(empty_database_url: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {
        "RELATECRM_DATABASE_URL": empty_database_url,
        "RELATECRM_PUBLIC_URL": "https://crm.example.com",
    }

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_user_and_webhook_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("user", "create", "--login", "ann", "--name", "Ann", "--admin")
    assert code == 0 and out.strip() == "1"
    code, out, _ = run("webhook", "create", "--user", "1", "--scope", "crm", "--scope", "user")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 and URL.match(lines[0]), out
    secret = URL.match(lines[0]).group(2)  # type: ignore[union-attr]
    code, out, _ = run("webhook", "list")
    assert code == 0 and "scopes=crm,user" in out and "active" in out
    assert secret not in out, "webhook codes are never shown again"
    code, out, _ = run("webhook", "revoke", "1")
    assert code == 0
    code, out, _ = run("webhook", "list")
    assert "revoked" in out
    code, _, err = run("webhook", "revoke", "1")
    assert code == 1 and "already revoked" in err


def test_webhook_for_unknown_user_fails(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("webhook", "create", "--user", "42", "--scope", "crm")
    assert code == 1 and out == "" and "User 42 not found" in err


def test_migrate_twice(run) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate")[0] == 0
    code, out, _ = run("migrate")
    assert code == 0 and "up to date" in out


def test_roles_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    assert run("user", "create", "--login", "ann")[1].strip() == "1"
    code, out, _ = run(
        "role", "create", "sales", "--grant", "deal:*:own", "--grant", "deal:read:all"
    )
    assert code == 0 and out.strip() == "1"
    code, out, _ = run("role", "list")
    assert code == 0
    assert out.split("\t")[:2] == ["1", "sales"]
    assert "deal:read:all" in out and "deal:update:own" in out and "contact" not in out
    code, out, _ = run("user", "role", "1", "sales")
    assert code == 0 and "sales" in out
    code, _, err = run("user", "role", "1", "nope")
    assert code == 1 and "Role nope not found" in err
    code, _, err = run("user", "role", "9", "sales")
    assert code == 1 and "User 9 not found" in err
    code, _, err = run("role", "create", "bad", "--grant", "deal:fly:all")
    assert code == 1 and "Grant 'deal:fly:all'" in err
    code, _, err = run("role", "create", "sales", "--grant", "deal:read:all")
    assert code == 1 and "exists already" in err
    code, out, _ = run("user", "role", "1")
    assert code == 0 and "no role" in out


def test_every_option_names_its_environment_variable() -> None:
    runner = CliRunner()
    commands = (
        ["serve"],
        ["migrate"],
        ["user", "create"],
        ["webhook", "create"],
        ["role", "create"],
        ["hook", "create"],
        ["hook", "list"],
        ["hook", "delete"],
    )
    for command in commands:
        help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"}).stdout
        options = {o for o in re.findall(r"--([a-z-]+)", help_text) if not o.startswith("no-")}
        options -= {"help"}
        assert options, command
        assert help_text.count("RELATECRM_") >= len(options), (command, help_text)


def test_outgoing_webhook_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    url = "https://93.184.215.14/hook"
    code, out, _ = run("hook", "create", "--event", "onCrmDealAdd", "--event", "ONCRMDEALUPDATE",
                       "--url", url)  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:2] == ["1\tONCRMDEALADD", "2\tONCRMDEALUPDATE"]
    token = re.fullmatch(r"application_token=([0-9a-f]{32})", lines[2])
    assert token, out
    secret = re.fullmatch(r"signing_secret=(whsec_\S+)", lines[3])
    assert secret and len(signing.secret_key(secret.group(1))) == 32, out
    code, out, _ = run("hook", "list")
    assert code == 0
    assert out.splitlines() == [
        f"1\tONCRMDEALADD\tactive\t{token.group(1)}\t{url}",
        f"2\tONCRMDEALUPDATE\tactive\t{token.group(1)}\t{url}",
    ]
    code, out, err = run("hook", "create", "--event", "oncrmdealadd", "--url", url)
    assert code == 1 and out == "" and "already registered" in err
    code, out, _ = run("hook", "delete", "1")
    assert code == 0 and "deleted" in out
    code, _, err = run("hook", "delete", "1")
    assert code == 1 and "not found" in err
    code, out, _ = run("hook", "list")
    assert len(out.splitlines()) == 1
    code, out, _ = run("hook", "events")
    assert code == 0 and "ONCRMDEALMOVETOCATEGORY" in out.split()


def test_outgoing_webhook_refusals(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        "hook", "create", "--event", "onCrmLeadAdd", "--url", "https://93.184.215.14/"
    )
    assert code == 1 and out == "" and "Unknown event" in err
    # One bad event among several: nothing is stored.
    code, _, _ = run("hook", "create", "--event", "onCrmDealAdd", "--event", "nope",
                     "--url", "https://93.184.215.14/")  # fmt: skip
    assert code == 1 and run("hook", "list")[1] == ""
    for url in ("http://127.0.0.1:8000/", "http://169.254.169.254/", "ftp://93.184.215.14/",
                "http://evil@93.184.215.14/"):  # fmt: skip
        code, out, err = run("hook", "create", "--event", "onCrmDealAdd", "--url", url)
        assert code == 1 and out == "" and "Wrong handler URL" in err, (url, err)
    code, out, _ = run("hook", "create", "--event", "onCrmDealAdd", "--url", "http://10.1.2.3/",
                       "--allowed-networks", "10.0.0.0/8")  # fmt: skip
    assert code == 0 and re.match(r"\d+\tONCRMDEALADD\n", out)  # PostgreSQL skips ids
    code, _, err = run("hook", "create", "--event", "onCrmDealAdd", "--url", "http://10.1.2.3/",
                       "--allowed-networks", "10.0.0.0/99")  # fmt: skip
    assert code == 1 and "Bad --allowed-networks" in err


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relatecrm", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "serve" in result.stdout
