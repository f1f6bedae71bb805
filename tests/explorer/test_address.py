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


def test_redact_leaves_no_part_of_a_password_with_at_slash_or_colon():
    for password in ("Zq@9/Xw", "Zq/9@Xw", "Qk:7j@Vr", "Zq9/Xw", "p%40ss"):
        for url in (f"bolt://neo4j:{password}@db:7687", f"neo4j+s://me:{password}@db.example.org"):
            shown = address.redact(url)
            assert not [password[i:i + 3] for i in range(len(password) - 2) if password[i:i + 3] in shown], shown
            assert shown in ("bolt://db:7687", "neo4j+s://db.example.org")
    assert address.redact("ladybug:///data/me@home/store.lbug") == "ladybug:///data/me@home/store.lbug"
    assert address.redact("/data/me@home/store.lbug") == "/data/me@home/store.lbug"
