"""`amx-explore [--store URL] [--port N] [--address 127.0.0.1]`: the Streamlit explorer on a store, read-only.

The store is checked before the server starts, so a wrong address is one clear line, not a page.
A missing embedded store file is fine: the app then says how to fill it. Credentials stay in the
environment (`NEO4J_USER`, `NEO4J_PASSWORD`) or the URL; they are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from amx_core import __version__
from amx_core.errors import AmxError, StoreError
from explorer.address import missing_embedded, redact

APP = Path(__file__).with_name("app.py")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amx-explore", description=__doc__.split("\n\n")[0])
    p.add_argument("--store", help="bolt://host:7687 or neo4j://... for Neo4j; a path or ladybug://path for the "
                                   "embedded store (default: $AMX_STORE or ~/.local/share/amx/store.lbug)")
    p.add_argument("--port", type=int, default=8501, help="HTTP port (default 8501)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--no-check", action="store_true", help="start without opening the store first")
    p.add_argument("--version", action="version", version=f"amx-explore {__version__}")
    return p


def streamlit_command(url: str, port: int, address: str) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, no file watcher."""
    del url  # passed in the environment (AMX_STORE), so it never shows in a process list
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", address, "--server.port", str(port), "--server.headless", "true",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
            "--global.developmentMode", "false"]


def check_store(url: str) -> None:
    """Open the store read-only once; a missing embedded file passes (the app shows how to fill it)."""
    from cypher import open_store

    if missing_embedded(url):
        return
    with open_store(url, read_only=True):
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cypher import default_store_url

    url = args.store or default_store_url()
    if not 0 < args.port < 65536:
        print(f"amx-explore: error: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    try:
        if not args.no_check:
            check_store(url)
    except (StoreError, AmxError) as e:
        print(f"amx-explore: error: {e}", file=sys.stderr)
        return 2
    env = {**os.environ, "AMX_STORE": url}
    # Serve explorer/static/ at /app/static: every graph page then links one cached vis-network there
    # instead of inlining ~700 kB of it (STREAMLIT_SERVER_ENABLE_STATIC_SERVING=false inlines it again).
    env.setdefault("STREAMLIT_SERVER_ENABLE_STATIC_SERVING", "true")
    cmd = streamlit_command(url, args.port, args.address)
    print(f"amx-explore: {redact(url)} (read-only) on http://{args.address}:{args.port}", file=sys.stderr,
          flush=True)
    # Become Streamlit (exec, no child): a SIGTERM or Ctrl-C to amx-explore then stops the server itself,
    # where a child process would be orphaned and keep the port.
    os.execve(cmd[0], cmd, env)
    return 0  # not reached

if __name__ == "__main__":
    sys.exit(main())
