"""`amx-query` (explorer/query.py): named queries and guarded Cypher on the command line, on both backends."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cypher import list_queries, open_store
from explorer import console
from explorer.query import main

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_the_console_script_is_registered():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["amx-query"] == "explorer.query:main"


def test_list_names_every_query_with_its_question_and_parameters(capsys):
    rc, out, _ = _run(capsys, "--list")
    assert rc == 0
    for q in list_queries():
        assert f"{q['name']}: {q['description']}" in out
        for p in q["params"]:
            assert f"--param {p['name']}=<{p['type']}>" in out
    rc, out, _ = _run(capsys, "--list", "--format", "json")
    assert rc == 0 and json.loads(out) == list_queries()


def test_named_query_in_every_format_equals_the_store(seeded_url, capsys):
    with open_store(seeded_url, read_only=True) as s:
        want = s.run("shared_edges", cls="tabby", min_fraction=0.5)
    assert want
    rc, out, err = _run(capsys, "--store", seeded_url, "shared_edges", "--param", "cls=tabby",
                        "--param", "min_fraction=0.5", "--format", "json")
    assert rc == 0 and err == "" and json.loads(out) == want
    rc, out, _ = _run(capsys, "--store", seeded_url, "shared_edges", "--param", "cls=tabby",
                      "--param", "min_fraction=0.5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and [(r["src"], r["dst"], int(r["images"])) for r in rows] == \
        [(r["src"], r["dst"], r["images"]) for r in want]
    rc, out, _ = _run(capsys, "--store", seeded_url, "shared_edges", "--param", "cls=tabby",
                      "--param", "min_fraction=0.5")
    lines = out.splitlines()
    assert rc == 0 and lines[0].split() == ["src", "dst", "images", "fraction", "mean_weight"]
    assert set(lines[1]) == {"-", " "} and len(lines) == 2 + len(want)


def test_cypher_runs_through_the_guard(seeded_url, capsys):
    rc, out, err = _run(capsys, "--store", seeded_url, "--cypher",
                        "MATCH (i:Image) RETURN i.class AS class, count(*) AS n ORDER BY class", "--format", "json")
    assert rc == 0 and json.loads(out) == [{"class": c, "n": 4} for c in ("cheetah", "goldfinch", "tabby")]
    rc, out, err = _run(capsys, "--store", seeded_url, "--cypher", "UNWIND range(1, 50) AS x RETURN x",
                        "--max-rows", "7", "--format", "csv")
    assert rc == 0 and out.split() == ["x", "1", "2", "3", "4", "5", "6", "7"]
    assert _one_line(err) == "amx-query: note: the first 7 rows; there are more (--max-rows)"
    rc, out, _ = _run(capsys, "--store", seeded_url, "--cypher",
                      "MATCH (i:Image) RETURN i.original_jpeg AS pic LIMIT 1", "--format", "json")
    assert rc == 0 and json.loads(out)[0]["pic"].endswith(" bytes>")


@pytest.mark.parametrize("text, said", [
    ("COPY Image TO '/tmp/amx-query-copy.csv'", "amx-query: refused: COPY reads or writes files"),
    ("MATCH (n) RETURN n; CALL threads=1", "amx-query: refused: more than one statement"),
    ("CALL current_setting('home_directory') RETURN *", "amx-query: refused: CALL current_setting reads"),
    ("MATCH (n) DETACH DELETE n", "amx-query: refused: DETACH would change the data"),
])
def test_refused_cypher_is_exit_2_and_one_line(text, said, seeded_url, capsys):
    rc, out, err = _run(capsys, "--store", seeded_url, "--cypher", text)
    assert rc == 2 and out == "" and _one_line(err).startswith(said)
    assert not Path("/tmp/amx-query-copy.csv").exists()


@pytest.mark.parametrize("argv, said", [
    (["no_such_query"], "no named query 'no_such_query'"),
    (["shared_edges"], "needs parameter 'cls'"),
    (["shared_edges", "--param", "cls=tabby", "--param", "min_fraction=lots"], "must be float"),
    (["shared_edges", "--param", "cls=tabby", "--param", "colour=red"], "has no parameter colour"),
    (["shared_edges", "--param", "cls"], "expected KEY=VALUE"),
    (["shared_edges", "--param", "cls=a", "--param", "cls=b"], "given twice"),
    ([], "give a query NAME or --cypher TEXT"),
    (["classes", "--cypher", "RETURN 1"], "give a query NAME or --cypher TEXT"),
    (["--cypher", "RETURN 1", "--param", "a=1"], "--cypher statements take none"),
    (["classes", "--format", "xml"], "invalid choice: 'xml'"),
    (["--list", "classes"], "--list takes no query name"),
])
def test_bad_input_is_exit_2_and_one_line(argv, said, tmp_path, capsys):
    with pytest.raises(SystemExit) if "xml" in argv else _no_exit() as ended:
        rc, out, err = _run(capsys, "--store", str(tmp_path / "never-opened.lbug"), *argv)
    if ended is not None:
        rc, err = ended.value.code, capsys.readouterr().err
    assert rc == 2 and said in _one_line(err), err
    assert not (tmp_path / "never-opened.lbug").exists()


class _no_exit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_store_errors_are_exit_1_and_one_line(tmp_path, capsys, monkeypatch, ladybug_seeded):
    monkeypatch.setenv("NEO4J_PASSWORD", "Qk@7/secret")
    for store in (str(tmp_path / "missing.lbug"), "bolt://127.0.0.1:9", "bolt://neo4j:Zq@9/Xw@127.0.0.1:9"):
        rc, out, err = _run(capsys, "--store", store, "classes")
        assert rc == 1 and out == "" and _one_line(err).startswith("amx-query: error:")
        assert "Zq@9" not in err and "9/Xw" not in err and "secret" not in err
    rc, _, err = _run(capsys, "--store", ladybug_seeded, "--cypher", "MATCH (n:NoSuchTable) RETURN n")
    assert rc == 1 and _one_line(err).startswith("amx-query: error:") and "NoSuchTable" in err
    rc, _, err = _run(capsys, "--store", ladybug_seeded, "--cypher",
                      "UNWIND range(1, 20000) AS x UNWIND range(1, 20000) AS y WITH x, y WHERE (x * y) % 7919 = 1 "
                      "RETURN count(*)", "--timeout", "1")
    assert rc == 1 and "stopped after 1 s (its time limit)" in _one_line(err)


def test_the_installed_entry_point_exits_with_the_codes(ladybug_seeded):
    """As a script calls it: a separate process, the exit code and the streams."""
    base = [sys.executable, "-m", "explorer.query", "--store", ladybug_seeded]
    ok = subprocess.run([*base, "classes", "--format", "csv"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    columns = next(q["columns"] for q in list_queries() if q["name"] == "classes")
    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == ",".join(columns) and ok.stderr == ""
    assert len(ok.stdout.splitlines()) == 4
    refused = subprocess.run([*base, "--cypher", "LOAD FROM '/etc/passwd' RETURN *"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("amx-query: refused: LOAD") and len(refused.stderr.splitlines()) == 1


def test_console_and_amx_query_share_one_guard():
    import explorer.query as query

    assert query.console is console and console.run.__module__ == "explorer.console"
