"""Driving the explorer in headless Chromium (Debian `chromium`, through Playwright's executable_path).

Shared by tests/explorer/test_browser.py and bench/explorer_speed.py. Never runs `playwright install`:
the browser is the system's /usr/bin/chromium (override with AMX_CHROMIUM).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "explorer"
CHROMIUM = os.environ.get("AMX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_missing() -> str | None:
    """Why the browser tier cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def explorer_server(store_url: str, *, port: int | None = None, timeout: float = 90,
                    env: dict[str, str] | None = None) -> Iterator[str]:
    """`amx-explore --store URL --port N` in a child process (`env` added to its environment); yields its
    base URL once healthy."""
    port = port or free_port()
    exe = shutil.which("amx-explore", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "explorer.cli"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / f"amx-explore-{port}.log", "w")
    proc = subprocess.Popen(cmd + ["--store", store_url, "--port", str(port)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"amx-explore exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"amx-explore did not answer on {base} within {timeout:.0f}s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1200):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


GRAPH_STATE = """() => {
  const b = document.body;
  if (!b || !b.getAttribute('data-drawn')) return null;
  return {name: b.getAttribute('data-graph'), nodes: Number(b.getAttribute('data-drawn')),
          edges: Number(b.getAttribute('data-edges')),
          rendered: (typeof network !== 'undefined' && network.body) ? network.body.nodeIndices.length : -1,
          vis_src: Array.from(document.scripts).map(s => s.src).find(s => s.includes('vis-network')) || null,
          canvas: document.querySelectorAll('#mynetwork canvas').length};
}"""


def drawn_graphs(page) -> dict[str, dict]:
    """Every vis-network graph drawn on the page, by name: node and edge counts, nodes rendered."""
    out = {}
    for frame in page.frames:
        if frame is page.main_frame or frame.is_detached():
            continue
        try:
            state = frame.evaluate(GRAPH_STATE)
        except Exception:  # a frame replaced by a rerun meanwhile
            continue
        if state:
            out[state["name"]] = state
    return out


def wait_for_graphs(page, names: set[str], timeout: float = 60) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        for frame in page.locator("iframe").all():  # iframes load lazily: bring each into view
            try:
                frame.scroll_into_view_if_needed(timeout=1000)
            except Exception:
                pass
        graphs = drawn_graphs(page)
        if names <= set(graphs):
            return graphs
        if time.monotonic() > deadline:
            raise TimeoutError(f"graphs {sorted(names - set(graphs))} not drawn within {timeout:.0f}s "
                               f"(drawn: {sorted(graphs)})")
        time.sleep(0.05)


def wait_idle(page, timeout: float = 60) -> None:
    """Until Streamlit has finished the current script run (no 'Running' status widget)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    time.sleep(0.15)
    while page.locator("[data-testid='stStatusWidget']").count() and time.monotonic() < deadline:
        time.sleep(0.05)


def open_page(page, base: str, query: str, *, graphs: set[str] = frozenset(), text: str | None = None,
              timeout: float = 60) -> float:
    """Load `base/?query` and return the seconds until it is interactive: the graphs drawn, `text` shown,
    and Streamlit idle."""
    t0 = time.perf_counter()
    page.goto(f"{base}/?{query}", wait_until="domcontentloaded")
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)
    if graphs:
        wait_for_graphs(page, set(graphs), timeout)
    wait_idle(page, timeout)
    return time.perf_counter() - t0
