"""bench/samples.py: the fixed tuning/validation split as the fetcher's manifest records it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from bench.samples import SPLITS, add_split_argument, sample_paths, split_arg, split_of


def photo_tree(root: Path, listed: dict[str, str], unlisted: list[str], manifest: dict | None = None) -> None:
    for rel in [*listed, *unlisted]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / rel)
    files = [{"file": rel, "split": split} for rel, split in listed.items()]
    data = manifest if manifest is not None else {"generated_by": "scripts/fetch_samples.py", "files": files}
    (root / "manifest.json").write_text(json.dumps(data))


def test_split_of_reads_the_manifest(tmp_path):
    photo_tree(
        tmp_path,
        {"cheetah/a.jpg": "tuning", "cheetah/b.webp": "validation", "bird/c.png": "validation"},
        ["cheetah/extra.jpg"],
    )
    assert split_of(tmp_path / "cheetah" / "a.jpg") == "tuning"
    assert split_of(tmp_path / "cheetah" / "b.webp") == "validation"
    assert split_of(str(tmp_path / "bird" / "c.png")) == "validation"
    assert split_of(tmp_path / "cheetah" / "extra.jpg") == "unlisted"
    assert split_of(tmp_path.parent / "elsewhere.jpg") == "unlisted"


def test_sample_paths_filters_by_split_and_keeps_the_old_call(tmp_path):
    photo_tree(
        tmp_path,
        {"cheetah/a.jpg": "tuning", "cheetah/b.webp": "validation", "bird/c.png": "validation"},
        ["cheetah/extra.jpg"],
    )
    names = lambda paths: [p.relative_to(tmp_path).as_posix() for p in paths]  # noqa: E731
    assert names(sample_paths(tmp_path)) == [
        "bird/c.png",
        "cheetah/a.jpg",
        "cheetah/b.webp",
        "cheetah/extra.jpg",
    ]
    assert names(sample_paths(tmp_path, 2)) == ["bird/c.png", "cheetah/a.jpg"]
    assert names(sample_paths(tmp_path, split="tuning")) == ["cheetah/a.jpg"]
    assert names(sample_paths(tmp_path, split="validation")) == ["bird/c.png", "cheetah/b.webp"]
    assert names(sample_paths(tmp_path, 1, split="validation")) == ["bird/c.png"]
    assert names(sample_paths(tmp_path / "cheetah", split="unlisted")) == ["cheetah/extra.jpg"]
    assert sample_paths(tmp_path / "missing", split="tuning") == []
    with pytest.raises(ValueError, match="unknown split"):
        sample_paths(tmp_path, split="test")


def test_old_and_foreign_manifests(tmp_path):
    old = tmp_path / "old"
    photo_tree(
        old, {}, ["dog/a.jpg"], {"generated_by": "scripts/fetch_samples.py", "files": [{"file": "dog/a.jpg"}]}
    )
    assert split_of(old / "dog" / "a.jpg") == "tuning"  # written before the split: it listed the 20 only
    foreign = tmp_path / "foreign"
    photo_tree(foreign, {}, ["dog/a.jpg"], {"files": [{"file": "dog/a.jpg", "split": "tuning"}]})
    assert split_of(foreign / "dog" / "a.jpg") == "unlisted"


def test_manifest_rewritten_is_read_again(tmp_path):
    photo_tree(tmp_path, {"cat/a.jpg": "tuning"}, [])
    assert split_of(tmp_path / "cat" / "a.jpg") == "tuning"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "generated_by": "scripts/fetch_samples.py",
                "files": [{"file": "cat/a.jpg", "split": "validation"}],
            }
        )
    )
    st = manifest.stat()
    os.utime(manifest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert split_of(tmp_path / "cat" / "a.jpg") == "validation"


def test_split_argument():
    parser = argparse.ArgumentParser()
    add_split_argument(parser, default="validation")
    assert parser.parse_args([]).split == "validation"
    assert split_arg(parser.parse_args(["--split", "all"]).split) is None
    assert split_arg(parser.parse_args(["--split", "tuning"]).split) == "tuning"
    with pytest.raises(SystemExit):
        parser.parse_args(["--split", "test"])
    assert SPLITS == ("tuning", "validation", "unlisted")
