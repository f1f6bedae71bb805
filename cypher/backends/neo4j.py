"""Neo4j 5.26 store through the official driver.

Writes are managed transactions (`execute_write`), which the driver retries on transient errors and
lost connections for up to `RETRY_SECONDS`; reads likewise with `execute_read`. Timeouts are set so
an unreachable or vanished server gives StoreError within seconds, never a hang. The password is taken
from the URL or `NEO4J_PASSWORD` and appears in no message, log or `str()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as nx_errors
from neo4j.graph import Node, Relationship
from neo4j.graph import Path as GraphPath

from amx_core.errors import StoreError

from ..base import Exec, Statement, Store, plain
from ..queries import Query
from ..statements import Batch

CONNECT_SECONDS = 5.0  # TCP connect and handshake
ACQUIRE_SECONDS = 10.0  # waiting for a pooled connection
RETRY_SECONDS = 10.0  # managed-transaction retries on transient errors and lost connections


def _plain(value: Any) -> Any:
    """Driver graph and time objects to plain Python values (the console may return any of them)."""
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, GraphPath):
        return {"nodes": [_plain(n) for n in value.nodes], "relationships": [_plain(r) for r in value.relationships]}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "iso_format"):  # neo4j.time Date, DateTime, Duration, ...
        return value.iso_format()
    return plain(value)


def split_credentials(url: str) -> tuple[str, str, str | None]:
    """(uri without user info, user, password) from the URL, else from NEO4J_USER / NEO4J_PASSWORD.

    The user info is everything between `://` and the last `@`, so a password with an unencoded `@`,
    `/` or `:` is taken whole (a generic URL parser cuts it at the first `/` or `@` and shows the rest
    as host, path or port). A malformed host or port is a StoreError that names only the part after
    the user info: no part of a password is ever in a message."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = None, rest
    user = password = None
    if userinfo is not None:
        name, colon, secret = userinfo.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if colon else None
    user = user or os.environ.get("NEO4J_USER", "neo4j")
    if password is None:
        password = os.environ.get("NEO4J_PASSWORD")
    parts = urlsplit(f"{scheme}{sep}{hostpart}")
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError as e:  # a port that is not a number or out of range
        raise StoreError(f"bad Neo4j address {scheme}{sep}{hostpart}: {e}") from None
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), user, password


class Neo4jStore(Store):
    backend = "neo4j"
    # write_many: the server's time per edge grows with the transaction (one run on a shared 2-core
    # machine: 4.6 s of server CPU for 160k edges at 4 and 8 images per transaction, 3.1-3.2 s at 1 and 2)
    write_many_images = 2

    def __init__(self, uri: str, user: str, driver: neo4j.Driver, *, database: str | None, read_only: bool) -> None:
        super().__init__(read_only=read_only)
        self.uri = uri
        self.user = user
        self.database = database
        self._driver: neo4j.Driver | None = driver

    @classmethod
    def connect(cls, url: str, *, read_only: bool = False) -> Neo4jStore:
        uri, user, password = split_credentials(url)
        if password is None:
            raise StoreError(f"no password for Neo4j at {uri}: set NEO4J_PASSWORD (and NEO4J_USER) "
                             "or put user:password in the URL")
        try:
            driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), connection_timeout=CONNECT_SECONDS,
                connection_acquisition_timeout=ACQUIRE_SECONDS, max_transaction_retry_time=RETRY_SECONDS,
                notifications_min_severity="OFF")
        except (ValueError, nx_errors.ConfigurationError) as e:
            raise StoreError(f"bad Neo4j address {uri}: {e}") from None
        store = cls(uri, user, driver, database=os.environ.get("NEO4J_DATABASE") or None, read_only=read_only)
        try:
            driver.verify_connectivity()
        except Exception as e:
            driver.close()
            raise store._error(e, "connecting") from None
        return store

    def __str__(self) -> str:
        return f"Neo4j store {self.uri}" + (f" database {self.database}" if self.database else "")

    def _transaction(self, work: Callable[[Exec], Any], *, write: bool, what: str) -> Any:
        if self._driver is None:
            raise StoreError(f"{self} is closed")
        mode = neo4j.READ_ACCESS if self.read_only or not write else neo4j.WRITE_ACCESS

        def unit(tx: neo4j.ManagedTransaction) -> Any:
            element_ids: dict[str, str] = {}  # act id -> element id, for this transaction only

            def execute(statement: Statement, params: dict[str, Any]) -> list[dict[str, Any]]:
                if isinstance(statement, Batch):
                    if statement.act_keys:  # the text takes these acts by element id
                        rows = [{**r, **{k: element_ids[r[k]] for k in statement.act_keys}}
                                for r in params["rows"]]
                        params = {**params, "rows": rows}
                    if statement.returns_element_ids:
                        element_ids.update((r["id"], r["eid"]) for r in tx.run(statement.neo4j, params))
                        return []
                    statement = statement.neo4j
                result = tx.run(statement, params)
                return [{k: _plain(v) for k, v in record.items()} for record in result]

            return work(execute)

        try:
            with self._driver.session(database=self.database, default_access_mode=mode) as session:
                run = session.execute_write if mode == neo4j.WRITE_ACCESS else session.execute_read
                return run(unit)
        except (nx_errors.Neo4jError, nx_errors.DriverError) as e:
            raise self._error(e, what) from None

    def run_query(self, query: Query, **params: Any) -> list[dict[str, Any]]:
        """A named query's rows, packed by the server into one record: `CALL { query } RETURN collect([...])`.
        The driver's cost is per record (~35 us each, whatever its size): channel_frequency's 1,280 rows
        took longer to decode as records than the server took to compute them (bench/class_questions_speed.py,
        column "records ms"). The subquery is uncorrelated and fed one row, so its rows reach collect() in
        its own ORDER BY order (the contract tests compare ordered rows with the reference)."""
        columns = query.columns
        packed = f"CALL {{\n{query.text}\n}}\nRETURN collect([{', '.join(columns)}]) AS rows"
        [record] = self._read(packed, query.bind(params), what=f"query {query.name!r}")
        return [dict(zip(columns, values, strict=True)) for values in record["rows"]]

    def _run_free(self, text: str, params: dict[str, Any], *, max_rows: int | None,
                  timeout_s: float | None) -> list[dict[str, Any]]:
        """One read transaction in a session of its own (READ access mode), with a server-side timeout;
        only the first `max_rows + 1` records are fetched, the rest is discarded."""
        if self._driver is None:
            raise StoreError(f"{self} is closed")

        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            result = tx.run(text, params)
            records = result.fetch(max_rows + 1) if max_rows is not None else list(result)
            return [{k: _plain(v) for k, v in r.items()} for r in records]

        unit = neo4j.unit_of_work(timeout=timeout_s)(work) if timeout_s else work
        try:
            with self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
                return session.execute_read(unit)
        except (nx_errors.Neo4jError, nx_errors.DriverError) as e:
            code = getattr(e, "code", None) or ""
            if "TransactionTimedOut" in code or "Transaction.TransactionTimedOut" in code:
                raise StoreError(f"{self}: console query stopped after {timeout_s:g} s (its time limit)") from None
            raise self._error(e, "console query") from None

    def _error(self, e: Exception, what: str) -> StoreError:
        if isinstance(e, nx_errors.AuthError):
            return StoreError(f"Neo4j at {self.uri} refused the credentials of user {self.user!r} "
                              "(check NEO4J_USER / NEO4J_PASSWORD)")
        if isinstance(e, (nx_errors.ServiceUnavailable, nx_errors.SessionExpired)):
            return StoreError(f"Neo4j at {self.uri} is unreachable while {what}: {' '.join(str(e).split())}")
        code = getattr(e, "code", None) or ""
        if code.endswith("AccessMode") or code.startswith("Neo.ClientError.Security.Forbidden"):
            return StoreError(f"{self} is open read-only; {what} tried to write and was refused")
        message = getattr(e, "message", None) or str(e)
        return StoreError(f"{self}: {what} failed: {' '.join(message.split())}")

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
