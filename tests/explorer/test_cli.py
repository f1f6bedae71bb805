"""`amx-explore`: main(argv) -> int, 127.0.0.1 by default, store checked first, errors as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from explorer import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def popen(monkeypatch):
    """Record the exec that would turn amx-explore into Streamlit, instead of doing it."""
    calls = []
    monkeypatch.setattr(cli.os, "execve", lambda path, cmd, env: calls.append((cmd, env)))
    return calls


def _opt(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_starts_streamlit_on_localhost_with_the_store_read_only(ladybug_seeded, popen, capsys):
    assert cli.main(["--store", ladybug_seeded]) == 0
    (cmd, env), = popen
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and cmd[4] == str(ROOT / "explorer" / "app.py")
    assert _opt(cmd, "--server.address") == "127.0.0.1" and _opt(cmd, "--server.port") == "8501"
    assert _opt(cmd, "--server.headless") == "true" and _opt(cmd, "--browser.gatherUsageStats") == "false"
    assert env["AMX_STORE"] == ladybug_seeded
    assert "http://127.0.0.1:8501" in capsys.readouterr().err


def test_static_serving_is_on_so_graphs_share_one_vis_network(ladybug_seeded, popen, monkeypatch):
    monkeypatch.delenv("STREAMLIT_SERVER_ENABLE_STATIC_SERVING", raising=False)
    assert cli.main(["--store", ladybug_seeded]) == 0
    assert popen[-1][1]["STREAMLIT_SERVER_ENABLE_STATIC_SERVING"] == "true"
    monkeypatch.setenv("STREAMLIT_SERVER_ENABLE_STATIC_SERVING", "false")  # the user's choice stands
    assert cli.main(["--store", ladybug_seeded]) == 0
    assert popen[-1][1]["STREAMLIT_SERVER_ENABLE_STATIC_SERVING"] == "false"
    assert (ROOT / "explorer" / "static" / "vis-network-9.1.2.min.js").is_file()  # served from next to app.py


def test_port_and_address_are_passed_on(ladybug_seeded, popen):
    assert cli.main(["--store", ladybug_seeded, "--port", "9123", "--address", "0.0.0.0"]) == 0
    cmd, _ = popen[0]
    assert _opt(cmd, "--server.port") == "9123" and _opt(cmd, "--server.address") == "0.0.0.0"


def test_default_store_comes_from_amx_store(ladybug_seeded, popen, monkeypatch):
    monkeypatch.setenv("AMX_STORE", ladybug_seeded)
    assert cli.main([]) == 0
    assert popen[0][1]["AMX_STORE"] == ladybug_seeded


def test_missing_embedded_store_still_starts(tmp_path, popen):
    """The page then says how to fill it."""
    assert cli.main(["--store", str(tmp_path / "new.lbug")]) == 0 and popen


@pytest.mark.parametrize("store, words", [
    ("bolt://neo4j:hunter2secret@127.0.0.1:9", "127.0.0.1:9"),
    ("ftp://x/y", "unknown store address scheme"),
])
def test_bad_store_is_one_line_and_no_server(store, words, popen, capsys, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "irrelevant")
    assert cli.main(["--store", store]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amx-explore: error: ") and words in err and err.count("\n") == 1
    assert "hunter2secret" not in err and "Traceback" not in err and not popen


def test_folder_instead_of_store_file(tmp_path, popen, capsys):
    assert cli.main(["--store", str(tmp_path)]) == 2
    assert "folder" in capsys.readouterr().err and not popen


def test_bad_port(popen, capsys, ladybug_seeded):
    assert cli.main(["--store", ladybug_seeded, "--port", "70000"]) == 2 and not popen


def test_password_never_on_the_command_line(popen, monkeypatch):
    monkeypatch.setattr(cli, "check_store", lambda url: None)
    assert cli.main(["--store", "bolt://neo4j:hunter2secret@db:7687"]) == 0
    cmd, env = popen[0]
    assert not any("hunter2secret" in c for c in cmd)


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("amx-explore")
    if not exe.exists():
        pytest.skip("amx-explore entry point not installed in this environment (pip install -e .)")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--store" in out.stdout and "127.0.0.1" in out.stdout
