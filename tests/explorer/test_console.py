"""The console's read-only guard (explorer/console.py): writes and file access refused, reads let through."""

from __future__ import annotations

import pytest

from explorer import console


@pytest.mark.parametrize("text, word", [
    ("CREATE (:Class {name: 'x'})", "CREATE"),
    ("match (n) detach delete n", "DETACH"),
    ("MATCH (n:Image) SET n.class = 'x'", "SET"),
    ("MERGE (k:Class {name: $x})", "MERGE"),
    ("MATCH (n) REMOVE n.path", "REMOVE"),
    ("DROP TABLE Act", "DROP"),
    ("LOAD CSV FROM 'file:///x' AS r RETURN r", "LOAD"),
    ("CALL apoc.periodic.iterate('x', 'y', {})", "CALL apoc.periodic.iterate"),
    ("MATCH (n) RETURN n // then\nCREATE (m)", "CREATE"),
])
def test_console_names_the_write(text, word):
    assert console.write_keyword(text) == word
    assert word.split()[0] in console.refusal(text) and "read-only" in console.refusal(text)


@pytest.mark.parametrize("text", [
    "MATCH (i:Image) RETURN i.class AS class, count(*) AS images",
    "MATCH (i:Image) WHERE i.path CONTAINS 'CREATE' RETURN i.id",  # inside a string: not a write
    "MATCH (i:Image) RETURN i.id // DELETE nothing\n",
    "MATCH (c:Circuit) WHERE c.kind = \"set\" RETURN c.offset AS `DELETE`",
    "CALL db.labels()",
])
def test_console_lets_reads_through(text):
    assert console.write_keyword(text) is None


@pytest.mark.parametrize("text, word", [
    ("MATCH (i:Image) WHERE i.path CONTAINS 'load' RETURN i.id", "LOAD"),  # anywhere, strings included
    ("COPY Image TO '/tmp/images.csv'", "COPY"),
    ("MATCH (i:Image) RETURN i.id // INSTALL httpfs", "INSTALL"),
    ("CALL db.labels() /* ATTACH 'x.db' */", "ATTACH"),
    ("MATCH (i:Image) RETURN i.id AS `export`", "EXPORT"),
])
def test_console_refuses_file_access_words_anywhere(text, word):
    assert console.write_keyword(text) == word
    message = console.refusal(text)
    assert message.startswith("Refused: the console is read-only") and word in message and "files" in message


def test_console_failure_names_a_store_refusal_and_passes_other_errors_on():
    from amx_core.errors import StoreError

    refused = console.failure("MATCH (n) SET n.x = 1", StoreError("Cannot execute write operations in a read-only transaction"))
    assert refused.startswith("Refused: the console is read-only and SET") and "read-only transaction" in refused
    assert console.failure("MATCH (n RETURN n", StoreError("syntax error near RETURN")) == \
        "Query failed: syntax error near RETURN"
