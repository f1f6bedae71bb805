"""`amx-query`: the named queries and the read-only console on the command line, for scripts.

    amx-query [--store URL] NAME [--param KEY=VALUE ...] [--format table|csv|json]
    amx-query [--store URL] --cypher TEXT [--format table|csv|json] [--max-rows N] [--timeout S]
    amx-query --list [--format table|json]

A named query (cypher/queries/) runs on a store opened read-only; `--cypher` runs one statement through
the explorer console's guard (explorer/console.py: the same allow-list, row cap and time limit, on a
connection of its own). Rows go to stdout; everything else to stderr, in one line. Exit codes: 0 ok;
2 refused or bad input (an unknown query or parameter, a statement the guard refuses); 1 the store
could not answer (unreachable, missing, a statement it failed or stopped at its time limit).
Values that are bytes (stored pictures) are shown as `<N bytes>`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any, NoReturn

from amx_core import __version__
from amx_core.errors import StoreError
from explorer import console

EXIT_OK, EXIT_STORE, EXIT_INPUT = 0, 1, 2
CLI_MAX_ROWS = 100_000
CLI_TIMEOUT_S = 60.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(EXIT_INPUT, f"amx-query: error: {message} (amx-query --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="amx-query", description=__doc__.split("\n\n")[0],
                epilog="Exit codes: 0 ok, 2 refused or bad input, 1 store error.")
    p.add_argument("name", nargs="?", help="a named query (amx-query --list shows them)")
    p.add_argument("--version", action="version", version=f"amx-query {__version__}")
    p.add_argument("--store", help="bolt://host:7687 or neo4j://... for Neo4j; a path or ladybug://path for the "
                                   "embedded store (default: $AMX_STORE or ~/.local/share/amx/store.lbug)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the named query (repeat for several)")
    p.add_argument("--cypher", metavar="TEXT", help="one read-only statement, through the console's guard")
    p.add_argument("--list", action="store_true", help="list the named queries, their questions and parameters")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--max-rows", type=int, default=CLI_MAX_ROWS,
                   help=f"--cypher: at most this many rows (default {CLI_MAX_ROWS}); a note says when cut")
    p.add_argument("--timeout", type=float, default=CLI_TIMEOUT_S,
                   help=f"--cypher: stop the statement after this many seconds (default {CLI_TIMEOUT_S:g})")
    return p


def _fail(code: int, message: str) -> int:
    print(f"amx-query: {'refused' if message.startswith('Refused:') else 'error'}: "
          f"{message.removeprefix('Refused: ')}", file=sys.stderr)
    return code


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--param {pair!r}: expected KEY=VALUE")
        if key in out:
            raise ValueError(f"--param {key} is given twice")
        out[key] = value
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cell(v) for v in value]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """Rows as an aligned table, CSV (header first) or a JSON array of objects."""
    rows = [{k: _cell(v) for k, v in r.items()} for r in rows]
    columns = list(columns) + [k for r in rows for k in r if k not in columns]
    columns = list(dict.fromkeys(columns))
    if fmt == "json":
        return json.dumps(rows, default=str, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_text(r.get(c)) for c in columns])
        return buf.getvalue()
    cells = [[_text(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[k]) for row in cells]) for k, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def list_text(queries: list[dict[str, Any]]) -> str:
    lines = []
    for q in queries:
        lines.append(f"{q['name']}: {q['description']}")
        for p in q["params"]:
            default = "required" if p["required"] else f"default {json.dumps(p['default'])}"
            lines.append(f"    --param {p['name']}=<{p['type']}>  ({default}) {p['help']}")
        lines.append(f"    columns: {', '.join(q['columns'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cypher import default_store_url, get_query, list_queries

    if args.list:
        if args.name or args.cypher or args.param:
            return _fail(EXIT_INPUT, "--list takes no query name, --cypher or --param")
        queries = list_queries()
        sys.stdout.write(json.dumps(queries, indent=1) + "\n" if args.format == "json" else list_text(queries))
        return EXIT_OK
    if bool(args.name) == bool(args.cypher):
        return _fail(EXIT_INPUT, "give a query NAME or --cypher TEXT (one of them), or --list")
    url = args.store or default_store_url()
    if args.cypher is not None:
        if args.param:
            return _fail(EXIT_INPUT, "--param belongs to named queries; --cypher statements take none")
        if args.max_rows < 0 or not args.timeout > 0:
            return _fail(EXIT_INPUT, "--max-rows must be >= 0 and --timeout > 0")
        try:
            answer = console.run(url, args.cypher, max_rows=args.max_rows, timeout_s=args.timeout)
        except console.Refused as e:
            return _fail(EXIT_INPUT, str(e))
        except StoreError as e:
            return _fail(EXIT_STORE, _one_line(e))
        rows, columns = answer.rows, list(answer.rows[0]) if answer.rows else []
        if answer.truncated:
            print(f"amx-query: note: the first {args.max_rows} rows; there are more (--max-rows)", file=sys.stderr)
    else:
        try:
            q = get_query(args.name)
            q.bind(_params(args.param))  # unknown, missing or mistyped parameters: bad input, before any I/O
        except (StoreError, ValueError) as e:
            return _fail(EXIT_INPUT, _one_line(e))
        from cypher import open_store

        try:
            with open_store(url, read_only=True) as store:
                rows = store.run(args.name, **_params(args.param))
        except StoreError as e:
            return _fail(EXIT_STORE, _one_line(e))
        columns = list(q.columns)
    try:
        sys.stdout.write(render(rows, columns, args.format))
        sys.stdout.flush()
    except BrokenPipeError:  # `amx-query ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
