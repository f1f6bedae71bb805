"""The console's guard (explorer/console.py), shared by the explorer's console and `amx-query --cypher`.

An allow-list: one statement of reading clauses, strictly tokenized. Refusals are checked on the text and
end to end on both backends (nothing happens: no file written, no setting changed, the store unchanged);
accepted statements run on a connection of their own with a row cap and a time limit, and on the embedded
store a statement that crashes the engine ends only a child process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from amx_core.errors import StoreError
from cypher import open_store
from explorer import console

SAMPLE_CSV = "/tmp/amx-console-test.csv"


def _refusal(text: str) -> str:
    with pytest.raises(console.Refused) as err:
        console.check(text)
    message = str(err.value)
    assert message.startswith("Refused: ") and "\n" not in message, message
    return message


# The statements the issue names, each refused with a line that says what is not allowed.
REFUSED = {
    "copy to": ("COPY Image TO '/tmp/amx-console-copy.csv'", "COPY reads or writes files"),
    "copy from": ("COPY Image FROM '/tmp/amx-console-copy.csv'", "COPY reads or writes files"),
    "load from": (f"LOAD FROM '{SAMPLE_CSV}' RETURN *", "LOAD reads or writes files"),
    "load csv": (f"LOAD CSV FROM 'file://{SAMPLE_CSV}' AS r RETURN r", "LOAD reads or writes files"),
    "load with headers": (f"MATCH (n) WITH n LOAD CSV WITH HEADERS FROM 'file://{SAMPLE_CSV}' AS r RETURN r",
                          "LOAD reads or writes files"),
    "chained reads": ("MATCH (n) RETURN count(n); MATCH (m) RETURN count(m)", "more than one statement"),
    "chained setting": ("MATCH (n) RETURN count(n); CALL threads=1", "more than one statement"),
    "chained timeout": ("CALL timeout=1;\nMATCH (n) RETURN n", "more than one statement"),
    "chained home": ("RETURN 1 ; CALL home_directory='/tmp'", "more than one statement"),
    "two semicolons": ("MATCH (n) RETURN n;;", "more than one statement"),
    "install": ("INSTALL httpfs", "INSTALL reads or writes files, extensions"),
    "uninstall": ("UNINSTALL json", "UNINSTALL reads or writes files, extensions"),
    "update": ("UPDATE httpfs", "UPDATE reads or writes files, extensions"),
    "load extension": ("LOAD EXTENSION json", "LOAD reads or writes files, extensions"),
    "setting": ("CALL threads=1", "CALL threads=... changes a setting"),
    "home directory": ("CALL home_directory='/tmp'", "changes a setting"),
    "current setting": ("CALL current_setting('home_directory') RETURN *", "current_setting reads or changes settings"),
    "neo4j setting": ("CALL dbms.setConfigValue('db.logs.query.enabled', 'OFF')", "reads or changes settings"),
    "read procedure into a file table function": (
        f"CALL show_tables() WITH name CALL read_csv_serial('{SAMPLE_CSV}') RETURN *", "read_csv_serial reads files"),
    "file table function": (f"CALL read_parquet('{SAMPLE_CSV}') RETURN *", "read_parquet reads files"),
    "file info": (f"CALL file_info('{SAMPLE_CSV}') RETURN *", "file_info reads files"),
    "apoc procedure": ("CALL apoc.load.json('file:///etc/passwd') YIELD value RETURN value", "apoc.load.json reads files"),
    "apoc function": ("RETURN apoc.util.md5(['x']) AS h", "function apoc.util.md5 is not allowed"),
    "call subquery": ("MATCH (n) CALL { WITH n DELETE n } RETURN 1", "not a CALL { } subquery"),
    "scoped call subquery": ("MATCH (n) CALL (n) { DETACH DELETE n } RETURN 1", "not a CALL { } subquery"),
    "attach": ("ATTACH '/tmp/other.lbug' AS other (dbtype lbug)", "ATTACH reads or writes files"),
    "export": ("EXPORT DATABASE '/tmp/amx-export'", "EXPORT reads or writes files"),
    "import": ("IMPORT DATABASE '/tmp/amx-export'", "IMPORT reads or writes files"),
    "use": ("USE system MATCH (n) RETURN n", "USE is an administration command"),
    "show": ("SHOW DATABASES", "SHOW is an administration command"),
    "transaction": ("BEGIN TRANSACTION", "BEGIN manages transactions"),
    "checkpoint": ("CHECKPOINT", "CHECKPOINT manages transactions"),
    "create": ("CREATE (:Class {name: 'x'})", "CREATE would change the data"),
    "detach delete": ("match (n) detach delete n", "DETACH would change the data"),
    "set": ("MATCH (n:Image) SET n.class = 'x'", "SET would change the data"),
    "merge": ("MERGE (k:Class {name: $x})", "MERGE would change the data"),
    "remove": ("MATCH (n) REMOVE n.path", "REMOVE would change the data"),
    "drop": ("DROP TABLE Act", "DROP would change the data"),
    "write after a comment": ("MATCH (n) RETURN n // then\nCREATE (m)", "CREATE would change the data"),
    "write in a subquery": ("MATCH (n) WHERE EXISTS { CREATE (m) RETURN m } RETURN n", "CREATE would change"),
    "foreach": ("MATCH (n) FOREACH (x IN [1] | CREATE (m))", "FOREACH would change the data"),
    "insert": ("MATCH (n) WITH n INSERT (m)", "INSERT would change the data"),
    "comment on": ("COMMENT ON TABLE Image IS 'x'", "COMMENT would change the data"),
    "unknown clause": ("MATCH (n) RETURN * FROBNICATE (n)", "'FROBNICATE' at character 20 is not a reading clause"),
    "two literals": ("MATCH (n) RETURN n 'x'", "unexpected \"'x'\""),
    "unclosed string": ("RETURN 'it\\' CREATE (n)", "string at character 8 is not closed"),
    "unclosed comment": ("RETURN 1 /* CREATE (n)", "comment at character 10 is not closed"),
    "unclosed name": ("RETURN `x", "back-quoted name at character 8 is not closed"),
    "unclosed bracket": ("MATCH (n) RETURN count(n", "not closed before the end"),
    "stray bracket": ("MATCH (n)) RETURN n", "unbalanced ')'"),
    "full-width semicolon": ("RETURN 1 \uff1b RETURN 2", "character '\uff1b' at character 10 is not allowed"),
    "nul": ("MATCH (n) RETURN n\x00", "U+0000"),
    "empty": ("  // nothing\n", "the statement is empty"),
    "lone semicolon": (";", "the statement is empty"),
    "explain": ("EXPLAIN MATCH (n) RETURN n", "EXPLAIN is an administration command"),
    "not a start": ("n RETURN n", "must start with MATCH"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_guard_refuses_with_one_line_that_says_what(case):
    text, said = REFUSED[case]
    message = _refusal(text)
    assert said in message, message
    assert "The console runs one reading statement: MATCH, OPTIONAL MATCH" in message


READS = [
    "MATCH (i:Image) RETURN i.class AS class, count(*) AS images ORDER BY images DESC",
    "MATCH (i:Image) WHERE i.path CONTAINS 'CREATE; COPY x TO y' RETURN i.id",  # inside a string: not code
    "MATCH (i:Image) RETURN i.id // DELETE nothing; LOAD nothing\n",
    "MATCH (c:Circuit) WHERE c.kind = \"set\" RETURN c.offset AS `DELETE`",
    "MATCH (i:Image) WHERE i.path CONTAINS 'load' RETURN i.id AS `export`",
    "CALL db.labels()",
    "CALL db.labels() YIELD label WHERE label STARTS WITH 'I' RETURN label",
    "CALL show_tables() RETURN name",
    "CALL table_info('Image') RETURN *",
    "MATCH (a:Act)-[f:FLOW]->(b:Act) RETURN a.cid AS src, b.cid AS dst LIMIT 5;",
    "MATCH (n) WHERE n.name STARTS WITH 'a' AND NOT n.x IS NULL RETURN n LIMIT 3",
    "RETURN CASE WHEN 1 > 0 THEN 'a' ELSE 'b' END AS y",
    "MATCH p = (a:Act)-[:FLOW*1..3]->(b) RETURN length(p) AS l, [r IN relationships(p) | r.weight] AS w",
    "MATCH (c:Class) WHERE EXISTS { MATCH (i:Image)-[:OF_CLASS]->(c) } "
    "RETURN c.name, COUNT { MATCH (i:Image)-[:OF_CLASS]->(c) } AS n",
    "UNWIND [1, 2, 3] AS x WITH x WHERE x > 1 RETURN x SKIP 0 LIMIT 10",
    "RETURN 1 AS x UNION ALL RETURN 2 AS x",
    "OPTIONAL MATCH (n:Nothing) RETURN n {.name, .id} AS m, count(DISTINCT n) AS k",
    "RETURN list_transform([1, 2], x -> x + 1) AS l",
    "RETURN date.truncate('day', date()) AS d",
    "MATCH (a)-[*]->(b) RETURN *",
    "RETURN 'it\\'s' AS s, 1.5e-3 AS x, $p AS z",
    "RETURN reduce(s = 0, x IN [1, 2] | s + x) AS t, all(x IN [1] WHERE x > 0) AS a",
]


@pytest.mark.parametrize("text", READS)
def test_guard_lets_reading_statements_through(text):
    assert console.check(text) == text.strip().removesuffix(";")


@settings(max_examples=300, deadline=None)
@given(hs.text(alphabet=hs.sampled_from(list("MATCHRETURNSECOPYLOAD ()[]{}'\"`;/*\\$:.,-><=|n1x\n")), max_size=60))
def test_guard_either_accepts_or_refuses_never_crashes(text):
    try:
        console.check(text)
    except console.Refused as e:
        assert str(e).startswith("Refused: ") and "\n" not in str(e)


def test_failure_is_one_line_and_names_a_store_refusal():
    refused = console.failure(StoreError("Cannot execute write operations\nin a read-only transaction"))
    assert refused == "Refused by the store (read-only): Cannot execute write operations in a read-only transaction"
    assert console.failure(StoreError("syntax error near RETURN")) == "Query failed: syntax error near RETURN"


# -- end to end on both backends ------------------------------------------------------------------


@pytest.fixture
def csv_file():
    Path(SAMPLE_CSV).write_text("a,b\n1,2\n")
    yield SAMPLE_CSV
    Path(SAMPLE_CSV).unlink(missing_ok=True)


@pytest.mark.parametrize("case", ["copy to", "load from", "load csv", "chained setting", "chained timeout",
                                  "install", "uninstall", "update", "setting", "current setting",
                                  "read procedure into a file table function", "export"])
def test_refused_statements_do_nothing_on_the_store(case, seeded_url, csv_file, tmp_path):
    text, _ = REFUSED[case]
    before = console.run(seeded_url, "MATCH (n) RETURN count(n) AS n").rows
    with pytest.raises(console.Refused):
        console.run(seeded_url, text)
    assert not Path("/tmp/amx-console-copy.csv").exists() and not Path("/tmp/amx-export").exists()
    assert console.run(seeded_url, "MATCH (n) RETURN count(n) AS n").rows == before
    with open_store(seeded_url, read_only=True) as s:
        assert s.run("classes")


def test_run_caps_rows_and_says_so(seeded_url):
    answer = console.run(seeded_url, "UNWIND range(1, 5000) AS x RETURN x", max_rows=10)
    assert [r["x"] for r in answer.rows] == list(range(1, 11)) and answer.truncated
    answer = console.run(seeded_url, "UNWIND range(1, 10) AS x RETURN x", max_rows=10)
    assert len(answer.rows) == 10 and not answer.truncated


SLOW = "UNWIND range(1, 20000) AS x UNWIND range(1, 20000) AS y WITH x, y WHERE (x * y) % 7919 = 1 RETURN count(*)"


def test_run_stops_a_statement_at_its_time_limit(seeded_url):
    with pytest.raises(StoreError, match=r"stopped after 1 s \(its time limit\)"):
        console.run(seeded_url, SLOW, timeout_s=1)


def test_run_never_uses_the_explorers_shared_connection(seeded_url, monkeypatch):
    from explorer import cache

    def shared(_url):
        raise AssertionError("the console used the shared store")

    monkeypatch.setattr(cache, "get_store", shared)
    assert console.run(seeded_url, "MATCH (i:Image) RETURN count(i) AS n").rows == [{"n": 12}]


def test_a_write_that_slips_past_the_guard_is_refused_by_the_store(seeded_url, monkeypatch):
    monkeypatch.setattr(console, "check", lambda text: text)  # only the store's read-only mode is left
    for text in ("MATCH (k:Class) WHERE k.name = 'cheetah' SET k.name = 'changed' RETURN k.name",
                 "CREATE (:Class {name: 'intruder'})"):
        with pytest.raises(StoreError, match="read-only|read only|access mode") as err:
            console.run(seeded_url, text)
        assert console.failure(err.value).startswith("Refused by the store (read-only)")
    with open_store(seeded_url, read_only=True) as s:
        assert sorted(r["class"] for r in s.run("classes")) == ["cheetah", "goldfinch", "tabby"]


def test_a_statement_that_crashes_the_embedded_engine_ends_only_a_child(ladybug_seeded, csv_file, monkeypatch):
    """Measured: this statement kills the process that runs it (SIGSEGV). The guard refuses it; past the
    guard, it runs in a child process, and the caller gets one line and goes on."""
    monkeypatch.setattr(console, "check", lambda text: text)
    text = f"CALL show_tables() WITH name AS n CALL read_csv_serial('{csv_file}') RETURN *"
    with pytest.raises(StoreError, match=r"crashed on this statement \(SIGSEGV\); it ran in a child process"):
        console.run(ladybug_seeded, text)
    assert console.run(ladybug_seeded, "MATCH (i:Image) RETURN count(i) AS n").rows == [{"n": 12}]
    assert os.getpid()  # still here
