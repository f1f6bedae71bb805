"""The named query library: one `.cypher` file per query under `cypher/queries/`, each with a header.

The header is the contract the explorer builds its menu from, so it is parsed strictly:

    // name: shared_edges
    // question: Which edges are shared by at least a fraction of a class's images ...?
    // param: cls (str): class name
    // param: min_fraction (float, default 0.5): smallest share of the class's circuits ...
    // columns: src, dst, images, fraction, mean_weight

Parameter types are `str`, `int`, `float` or `bool`; a default is a JSON literal. The body (the lines
after the header) is sent unchanged to both backends, with every value passed as a parameter.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amx_core.errors import StoreError

QUERY_DIR = Path(__file__).with_name("queries")
SCAN_DIR = QUERY_DIR / "scan"  # the scanning forms of the questions answered from the class summaries

_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_HEADER = re.compile(r"^//\s*(name|question|param|columns):\s*(.*)$")
_PARAM = re.compile(r"^(\w+)\s*\((str|int|float|bool)(?:,\s*default\s+(.+?))?\):\s*(.+)$")
_MISSING = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "str" | "int" | "float" | "bool"
    default: Any  # _MISSING when required
    help: str

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "type": self.type, "required": self.required, "help": self.help}
        if not self.required:
            d["default"] = self.default
        return d

    def coerce(self, value: Any, query: str) -> Any:
        """Accept the typed value or its text (the explorer's inputs are text)."""
        kind = _TYPES[self.type]
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.strip().lower() not in ("true", "false", "1", "0"):
                        raise ValueError(value)
                    return value.strip().lower() in ("true", "1")
                return bool(value)
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            out = kind(value)
        except (TypeError, ValueError):
            raise StoreError(f"query {query!r}: parameter {self.name!r} must be {self.type}, got {value!r}") from None
        if self.name == "limit" and out < 0:
            raise StoreError(f"query {query!r}: parameter 'limit' must be >= 0, got {value!r}")
        return out


@dataclass(frozen=True)
class Query:
    name: str
    question: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    text: str  # the body, without the header
    path: Path

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, types checked; unknown or missing parameters are errors naming the query."""
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            raise StoreError(f"query {self.name!r} has no parameter {', '.join(unknown)}; "
                             f"it takes {', '.join(sorted(known)) or 'none'}")
        out = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = p.coerce(given[p.name], self.name)
            elif p.required:
                raise StoreError(f"query {self.name!r} needs parameter {p.name!r} ({p.type}): {p.help}")
            else:
                out[p.name] = p.default
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.question,
                "params": [p.to_dict() for p in self.params], "columns": list(self.columns)}


def parse_query(path: Path) -> Query:
    """Parse one query file; a malformed header is an error naming the file and line."""
    fields: dict[str, Any] = {"params": []}
    lines = path.read_text(encoding="utf-8").splitlines()
    body_start = 0
    for i, line in enumerate(lines):
        m = _HEADER.match(line.strip())
        if not m:
            if line.strip().startswith("//"):
                raise ValueError(f"{path}:{i + 1}: unknown header line {line!r}")
            body_start = i
            break
        key, value = m.group(1), m.group(2).strip()
        if key == "param":
            pm = _PARAM.match(value)
            if not pm:
                raise ValueError(f"{path}:{i + 1}: bad param line, want 'name (type[, default X]): help'")
            name, typ, default, help_ = pm.groups()
            fields["params"].append(Param(name, typ, _MISSING if default is None else json.loads(default), help_))
        elif key == "columns":
            fields["columns"] = tuple(c.strip() for c in value.split(",") if c.strip())
        else:
            fields[key] = value
    else:
        raise ValueError(f"{path}: no query body after the header")
    for key in ("name", "question", "columns"):
        if key not in fields:
            raise ValueError(f"{path}: header lacks '// {key}:'")
    if fields["name"] != path.stem:
        raise ValueError(f"{path}: header name {fields['name']!r} differs from the file name")
    text = "\n".join(lines[body_start:]).strip()
    used = set(re.findall(r"\$(\w+)", text))
    declared = {p.name for p in fields["params"]}
    if used != declared:
        raise ValueError(f"{path}: parameters used {sorted(used)} differ from declared {sorted(declared)}")
    return Query(fields["name"], fields["question"], tuple(fields["params"]), fields["columns"], text, path)


@functools.cache
def _library() -> dict[str, Query]:
    return {p.stem: parse_query(p) for p in sorted(QUERY_DIR.glob("*.cypher"))}


def get_query(name: str) -> Query:
    try:
        return _library()[name]
    except KeyError:
        raise StoreError(f"no named query {name!r}; known: {', '.join(sorted(_library()))}") from None


def scan_query(name: str) -> Query:
    """The scanning form of a question that the library answers from the class summaries: it reads every
    circuit of the class, so it needs no summary and its time grows with the class. The tests and
    bench/store_speed.py check the two agree; run it with `Store.run_query`."""
    path = SCAN_DIR / f"{name}.cypher"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCAN_DIR.glob("*.cypher")))
        raise StoreError(f"no scanning query {name!r}; known: {known}")
    return parse_query(path)


def list_queries() -> list[dict[str, Any]]:
    """name, description, params (name, type, required, default, help) and columns of every query."""
    return [q.to_dict() for q in _library().values()]
