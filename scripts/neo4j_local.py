#!/usr/bin/env python3
"""Start, stop or query a local Neo4j 5.26 Community server for development and CI (no Docker).

    export NEO4J_PASSWORD=...            # at least 8 characters; user is `neo4j`
    export AMX_NEO4J_URI=$(python scripts/neo4j_local.py start)    # prints bolt://127.0.0.1:7687
    python scripts/neo4j_local.py status
    python scripts/neo4j_local.py stop

The server is Neo4j's own database service with its Bolt connector, assembled from Maven Central
(`scripts/neo4j/pom.xml`, resolved once by Maven into ~/.m2) and started by the one-file launcher
`scripts/neo4j/LocalNeo4j.java` with Java 17. It listens on 127.0.0.1 only, with auth on. Data, logs
and the pid file live under `.neo4j/` in the repository (git-ignored). `start` is idempotent and
returns once Bolt answers; `stop` asks the JVM to shut down cleanly (SIGTERM) and waits for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "scripts" / "neo4j" / "pom.xml"
LAUNCHER = ROOT / "scripts" / "neo4j" / "LocalNeo4j.java"
STATE = ROOT / ".neo4j"
CLASSPATH = STATE / "classpath.txt"
PID_FILE = STATE / "neo4j.pid"
PORT_FILE = STATE / "neo4j.port"
LOG_FILE = STATE / "neo4j.log"
HOME = STATE / "home"
READY_LINE = "neo4j ready on "
START_SECONDS = 180  # first start compiles the launcher and creates the stores
STOP_SECONDS = 60


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def running_pid() -> int | None:
    """The launcher's pid when it is alive (checked by its command line, not just the number)."""
    try:
        pid = int(PID_FILE.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"LocalNeo4j" in cmdline else None


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def resolve_classpath() -> str:
    """Neo4j's jars from Maven Central (cached in ~/.m2); re-resolved when the pom changes."""
    if CLASSPATH.exists() and CLASSPATH.stat().st_mtime >= POM.stat().st_mtime:
        return CLASSPATH.read_text().strip()
    if not shutil.which("mvn"):
        raise SystemExit("neo4j_local: Maven (mvn) is needed to fetch Neo4j from Maven Central")
    say("neo4j_local: resolving Neo4j 5.26 jars with Maven (the first time downloads ~100 MB)...")
    STATE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mvn", "-B", "-q", "-f", str(POM), "dependency:build-classpath",
                           f"-Dmdep.outputFile={CLASSPATH}"], capture_output=True, text=True)
    if proc.returncode != 0 or not CLASSPATH.exists():
        raise SystemExit(f"neo4j_local: Maven could not resolve Neo4j:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return CLASSPATH.read_text().strip()


def start(port: int) -> int:
    pid = running_pid()
    if pid:
        running_port = int(PORT_FILE.read_text())
        if running_port != port:
            say(f"neo4j_local: already running on port {running_port} (pid {pid}); stop it first to change port")
        print(f"bolt://127.0.0.1:{running_port}")
        return 0
    password = os.environ.get("NEO4J_PASSWORD", "")
    if len(password) < 8:
        raise SystemExit("neo4j_local: set NEO4J_PASSWORD (at least 8 characters) before starting")
    if port_answers(port):
        raise SystemExit(f"neo4j_local: port {port} on 127.0.0.1 is taken by another program; use --port")
    if not shutil.which("java"):
        raise SystemExit("neo4j_local: Java 17 (java) is needed")
    classpath = resolve_classpath()
    HOME.mkdir(parents=True, exist_ok=True)
    heap = os.environ.get("AMX_NEO4J_HEAP", "1g")
    with open(LOG_FILE, "w") as log:
        proc = subprocess.Popen(
            ["java", f"-Xmx{heap}", "-cp", classpath, str(LAUNCHER), str(HOME), str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "NEO4J_PASSWORD": password})
    PID_FILE.write_text(str(proc.pid))
    PORT_FILE.write_text(str(port))
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            tail = LOG_FILE.read_text(errors="replace")[-4000:]
            raise SystemExit(f"neo4j_local: the server exited with code {proc.returncode}:\n{tail}")
        if READY_LINE in LOG_FILE.read_text(errors="replace") and port_answers(port):
            say(f"neo4j_local: Neo4j 5.26 running (pid {proc.pid}), data in {HOME}")
            print(f"bolt://127.0.0.1:{port}")
            return 0
        time.sleep(0.5)
    stop()
    raise SystemExit(f"neo4j_local: no answer on port {port} within {START_SECONDS} s; see {LOG_FILE}")


def stop() -> int:
    pid = running_pid()
    if not pid:
        say("neo4j_local: not running")
        PID_FILE.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and running_pid():
        time.sleep(0.3)
    if running_pid():
        say(f"neo4j_local: no clean shutdown within {STOP_SECONDS} s; killing pid {pid}")
        os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    say("neo4j_local: stopped")
    return 0


def status() -> int:
    pid = running_pid()
    if not pid:
        print("not running")
        return 3
    port = int(PORT_FILE.read_text())
    state = "answering" if port_answers(port) else "not answering yet"
    print(f"running at bolt://127.0.0.1:{port} (pid {pid}, {state})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AMX_NEO4J_PORT", "7687")),
                        help="Bolt port on 127.0.0.1 (default 7687, or AMX_NEO4J_PORT)")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args.port)
    if args.command == "stop":
        return stop()
    return status()


if __name__ == "__main__":
    sys.exit(main())
