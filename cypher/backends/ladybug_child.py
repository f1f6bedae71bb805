"""One free-form statement on the embedded store, in a child process (`LadybugStore.run_cypher`).

The parent writes a pickled job to stdin: {"path", "text", "params", "max_rows", "timeout_ms"}; this
process opens the file read-only on its own connection, runs the statement with the engine's query
timeout, reads at most `max_rows + 1` rows and writes {"rows": [...]} or {"error": "..."} to stdout as a
pickle. A statement that crashes the engine (a segmentation fault) ends only this process; the parent
reports it in one line. Run as `python -m cypher.backends.ladybug_child`.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any


def answer(job: dict[str, Any]) -> dict[str, Any]:
    import ladybug

    from cypher.base import plain

    try:
        db = ladybug.Database(job["path"], read_only=True)
        conn = ladybug.Connection(db)
        if job.get("timeout_ms"):
            conn.set_query_timeout(int(job["timeout_ms"]))
        result = conn.execute(job["text"], job.get("params") or {})
        if isinstance(result, list):
            return {"error": f"send one statement at a time, not {len(result)}"}
        names = result.get_column_names()
        limit = job.get("max_rows")
        rows = []
        while result.has_next() and (limit is None or len(rows) <= limit):
            rows.append({k: plain(v) for k, v in zip(names, result.get_next(), strict=True)})
        return {"rows": rows}
    except RuntimeError as e:
        return {"error": str(e)}


def main() -> None:
    job = pickle.load(sys.stdin.buffer)
    out = pickle.dumps(answer(job))
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    os._exit(0)  # the answer is out; skip the engine's teardown


if __name__ == "__main__":
    main()
