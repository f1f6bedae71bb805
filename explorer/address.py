"""The store address as the explorer shows it: never with a password, and what to do when it is empty.

Used by `amx-explore` (its start line, its store check) and by the app (sidebar, fill hint).
"""

from __future__ import annotations

from pathlib import Path


def redact(url: str) -> str:
    """A store address without user info (no password in the page or the logs).

    Everything between `://` and the last `@` goes: a password holding an unencoded `@`, `/` or `:`
    then leaves no part of itself behind (cutting at the first `@` or `/` would keep its tail)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme == "ladybug" or "@" not in rest:
        return url
    return scheme + sep + rest.rpartition("@")[2]


def missing_embedded(url: str) -> bool:
    """An embedded store file that does not exist yet: nothing ingested, not an error."""
    if "://" in url and not url.startswith("ladybug://"):
        return False
    return not Path(url.removeprefix("ladybug://")).expanduser().exists()


def fill_hint(url: str) -> str:
    """What to run when the store holds nothing yet."""
    target = redact(url)
    return (f"The store at `{target}` holds no images yet. Fill it with `amx-ingest`, one class folder at a time:\n\n"
            f"```\namx-ingest --class cheetah --images data/samples/cheetah --store {target}\n"
            f"amx-ingest --class tabby --images data/samples/tabby_cat --store {target}\n```\n\n"
            "(`make demo` does this for the sample photos), then reload this page.")
