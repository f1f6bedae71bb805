"""The read-only guard of the explorer's Cypher console, in one place.

The console runs free-form Cypher on a store opened read-only, so the store refuses writes anyway; this
guard refuses them before they reach it and says why. It refuses a statement that names a clause word
changing the data (outside strings and comments), a procedure call other than the schema ones, or a
file-access word (COPY, LOAD, EXPORT, IMPORT, INSTALL, ATTACH) anywhere in the text, strings included.
"""

from __future__ import annotations

import re

from amx_core.errors import StoreError

FILE_WORDS = ("COPY", "LOAD", "EXPORT", "IMPORT", "INSTALL", "ATTACH")
WRITE_WORDS = ("CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "DROP", "ALTER", "FOREACH", "CHECKPOINT",
               "GRANT", "DENY", "REVOKE") + FILE_WORDS
READ_PROCEDURES = ("db.labels", "db.relationshiptypes", "db.propertykeys", "show_tables", "table_info", "db.schema")
_FILE_ACCESS = re.compile(r"\b(" + "|".join(FILE_WORDS) + r")\b", re.IGNORECASE)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def write_keyword(text: str) -> str | None:
    """Why `text` may not run in the console: the first word that would change the data or touch a file
    (`CALL name` for a procedure call that is not a schema read), else None."""
    bare = _STRINGS.sub("''", _COMMENTS.sub(" ", text))
    for word in re.findall(r"[A-Za-z_]+", bare):
        if word.upper() in WRITE_WORDS:
            return word.upper()
    m = re.search(r"\bCALL\s+([\w.]+)", bare, re.I)
    if m and not m.group(1).lower().startswith(READ_PROCEDURES):
        return "CALL " + m.group(1)
    m = _FILE_ACCESS.search(text)  # strings and comments too: a file name there is what such a clause reads
    return m.group(1).upper() if m else None


def refusal(text: str, keyword: str | None = None) -> str:
    """The message for a refused statement, naming the word that refused it."""
    kw = keyword or write_keyword(text) or "this statement"
    if kw in FILE_WORDS:
        return (f"Refused: the console is read-only and reads or writes no files ({kw}; "
                f"{', '.join(FILE_WORDS)} are refused anywhere in the text). "
                "Use the named queries, or the Exports page for CSV, GraphML and JSON.")
    return (f"Refused: the console is read-only and {kw} would change the data. "
            "Only reading queries (MATCH … RETURN) run here; the store is filled by amx-ingest.")


def failure(text: str, error: StoreError) -> str:
    """The message for a console statement the store refused or could not run."""
    said = str(error).lower()
    if "read-only" in said or "read only" in said or "access mode" in said:
        return refusal(text) + f" ({error})"
    return f"Query failed: {error}"
