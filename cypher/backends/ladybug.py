"""Embedded LadybugDB store (PyPI `ladybug`, pinned in pyproject): one database file, no server.

Transactions are LadybugDB's own (`BEGIN TRANSACTION` ... `COMMIT`), written ahead to its WAL, so a
process killed mid-write leaves the last committed state. One connection per store, guarded by a lock,
because the explorer may call it from several threads. In-process there are no transient conflicts to
retry: LadybugDB admits one writer, and the file lock keeps a second writer process out at open time.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa

from amx_core.errors import StoreError

from ..base import Exec, Statement, Store, plain
from ..statements import Batch

CHECKPOINT_BYTES = 256 << 20  # WAL size that triggers a checkpoint (engine default 16 MiB); see `open`
CHILD_GRACE_S = 20.0  # the child's start (Python, the engine, opening the file) on top of the statement's limit


class LadybugStore(Store):
    backend = "ladybug"

    def __init__(self, path: Path, db: ladybug.Database, conn: ladybug.Connection, *, read_only: bool) -> None:
        super().__init__(read_only=read_only)
        self.path = path
        self._db = db
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> LadybugStore:
        path = path.expanduser().absolute()
        if path.is_dir():
            raise StoreError(f"embedded store {path} is a folder; give a database file path such as {path / 'store.lbug'}")
        if read_only and not path.exists():
            raise StoreError(f"no embedded store at {path}: nothing has been ingested there yet")
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create embedded store {path}: {e.strerror or e} ({path.parent})") from None
        try:
            # the engine's default buffer pool (a share of RAM, reserved lazily): a fixed pool can run
            # out during a checkpoint of a large store
            # a writer checkpoints when its WAL passes CHECKPOINT_BYTES, not the engine's 16 MiB: each
            # checkpoint costs about as much as several images' writes (bench/store_speed.py). The price:
            # the WAL file grows to that size, and replaying it after a crash takes longer
            db = ladybug.Database(str(path), read_only=read_only,
                                  **({} if read_only else {"checkpoint_threshold": CHECKPOINT_BYTES}))
            conn = ladybug.Connection(db)
        except RuntimeError as e:
            hint = " (another process may have it open for writing)" if "lock" in str(e).lower() else ""
            raise StoreError(f"cannot open embedded store {path}{hint}: {e}") from None
        return cls(path, db, conn, read_only=read_only)

    def __str__(self) -> str:
        return f"embedded store {self.path}"

    def _execute(self, statement: Statement, params: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(statement, Batch):  # `LOAD FROM $rows`: hand the rows over as an Arrow table
            rows = params["rows"]
            table = pa.Table.from_pylist(rows)  # columns in the first row's key order; ~7x faster than pa.table(dict of lists) on 80k edge rows
            text, params = statement.ladybug, {**params, "rows": table}
        else:
            text = statement
        result = self._conn.execute(text, params)
        if isinstance(result, list):  # several `;`-separated statements
            for r in result:
                r.close()
            raise StoreError(f"{self}: send one statement at a time, not {len(result)}")
        try:
            names = result.get_column_names()
            rows = []
            while result.has_next():
                rows.append({k: plain(v) for k, v in zip(names, result.get_next(), strict=True)})
            return rows
        finally:
            result.close()

    def _transaction(self, work: Callable[[Exec], Any], *, write: bool, what: str) -> Any:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self} is closed")
            try:
                self._conn.execute("BEGIN TRANSACTION" if write else "BEGIN TRANSACTION READ ONLY")
            except RuntimeError as e:
                raise self._error(e, what) from None
            try:
                out = work(self._execute)
                self._conn.execute("COMMIT")
                return out
            except BaseException as e:
                try:
                    self._conn.execute("ROLLBACK")
                except RuntimeError:
                    pass  # the engine already rolled back the failed transaction
                if isinstance(e, RuntimeError):
                    raise self._error(e, what) from None
                raise

    def _error(self, e: RuntimeError, what: str) -> StoreError:
        msg = str(e)
        if "read-only" in msg.lower() or "read only" in msg.lower():
            return StoreError(f"{self} is open read-only; {what} tried to write and was refused ({msg})")
        return StoreError(f"{self}: {what} failed: {msg}")

    def _run_free(self, text: str, params: dict[str, Any], *, max_rows: int | None,
                  timeout_s: float | None) -> list[dict[str, Any]]:
        """In a child process (`cypher.backends.ladybug_child`) with its own read-only connection: a
        statement that crashes the engine ends only the child, and the engine's timeout plus a wall-clock
        kill bound the time. The child opens the file afresh, so it sees the latest committed data."""
        job = {"path": str(self.path), "text": text, "params": params, "max_rows": max_rows,
               "timeout_ms": int(timeout_s * 1000) if timeout_s else None}
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        stopped = StoreError(f"{self}: console query stopped after {timeout_s:g} s (its time limit)") \
            if timeout_s else None
        try:
            proc = subprocess.run([sys.executable, "-m", "cypher.backends.ladybug_child"], input=pickle.dumps(job),
                                  capture_output=True, env=env, timeout=timeout_s + CHILD_GRACE_S if timeout_s else None)
        except subprocess.TimeoutExpired:
            raise stopped from None
        except OSError as e:
            raise StoreError(f"{self}: cannot start the console's child process: {e}") from None
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            raise StoreError(f"{self}: the embedded engine crashed on this statement ({name}); it ran in a child "
                             "process, so nothing else is affected")
        try:
            out = pickle.loads(proc.stdout)
        except Exception:
            said = " ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-1:]) or f"exit {proc.returncode}"
            raise StoreError(f"{self}: console query failed: {said}") from None
        if "error" in out:
            if stopped is not None and "interrupt" in out["error"].lower():
                raise stopped
            raise self._error(RuntimeError(out["error"]), "console query")
        return out["rows"]

    def checkpoint(self) -> None:
        """Fold the WAL into the database file now (the engine does it when the WAL passes
        CHECKPOINT_BYTES, and on close); benches call it to count that cost in a write's time."""
        self._check_writable("checkpoint")
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self} is closed")
            try:
                self._conn.execute("CHECKPOINT")
            except RuntimeError as e:
                raise self._error(e, "checkpoint") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._db.close()
                self._conn = None
