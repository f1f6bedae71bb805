"""The store address as the explorer shows it (explorer/address.py)."""

from __future__ import annotations

from explorer import address


def test_redact_and_fill_hint_never_show_a_password():
    assert address.redact("bolt://neo4j:s3cret@db:7687") == "bolt://db:7687"
    hint = address.fill_hint("bolt://neo4j:s3cret@db:7687")
    assert "s3cret" not in hint and "amx-ingest --class" in hint and "bolt://db:7687" in hint


def test_missing_embedded_is_only_an_absent_store_file(tmp_path):
    assert address.missing_embedded(str(tmp_path / "new.lbug"))
    assert address.missing_embedded(f"ladybug://{tmp_path / 'new.lbug'}")
    assert not address.missing_embedded(str(tmp_path))  # exists (a folder: opening it is the error)
    assert not address.missing_embedded("bolt://db:7687")
