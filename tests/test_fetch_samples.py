"""scripts/fetch_samples.py without the network: catalogue sanity, the fixed split, extraction (wheels,
.debs, Qt .rcc resource files), credits, idempotence, no-apt."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
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
    assert sum(n >= 3 for n in counts.values()) >= 15
    pypi_only = [s for src in fs.SOURCES if src.kind == "pypi" for s in src.samples]
    assert sum(s.folder == "cheetah" for s in pypi_only) == 3  # a multi-photo class even without apt
    for s in samples:
        assert len(s.sha16) == 16 and s.folder == s.folder.lower() and " " not in s.folder
        assert not s.resource or s.member.endswith(".rcc")
    for src in fs.SOURCES:
        assert src.version and not src.version.startswith(("<", ">", "~"))  # one exact version each
        assert src.package not in {"foolbox", "pytorch-gradcam"}  # research-only / no licence


def test_split_is_fixed_the_twenty_originals_are_tuning(fs):
    targets = [s.target for src in fs.SOURCES for s in src.samples]
    assert len(fs.TUNING) == 20 and fs.TUNING <= set(targets)
    splits = {t: fs.split_of(t) for t in targets}
    assert sum(v == "tuning" for v in splits.values()) == 20
    assert set(splits.values()) == {"tuning", "validation"}
    assert fs.split_of("cheetah/gcompris-cheetah.webp") == "validation"
    assert fs.split_of("anything/new.jpg") == "validation"
    # the tuning photos stay where the presets were tuned on them
    assert {"cheetah/gradio-cheetah.jpg", "tabby_cat/skimage-chelsea.png", "dog/darknet-dog.jpg"} <= fs.TUNING


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
        zf.writestr(
            "fakepkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: fakepkg\nLicense-Expression: MIT\n",
        )

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
    assert "2 photos (0 tuning, 2 validation) in 1 class folders" in out.out and "2 fetched now" in out.out
    assert "differs from the pinned version" in out.err  # two.png's expected hash is wrong on purpose
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["folders"] == {
        "goldfish": {"imagenet_class": "goldfish", "count": 2, "tuning": 0, "validation": 2}
    }
    files = {f["file"]: f for f in manifest["files"]}
    assert set(files) == {"goldfish/fake-one.png", "goldfish/fake-two.png"}
    one = files["goldfish/fake-one.png"]
    assert one["source"] == "pypi:fakepkg==1.0" and (one["package"], one["version"]) == ("fakepkg", "1.0")
    assert one["member"] == "pkg/data/one.png" and one["resource"] is None
    assert one["split"] == "validation"
    assert one["licence"] == "MIT" and one["licence_scope"] == "package" and one["author"] is None
    # second run: nothing fetched, even with the cache gone, and the credits carried over
    shutil.rmtree(tmp_path / "cache")
    assert fs.main(argv) == 0
    assert "0 fetched now, 2 already there" in capsys.readouterr().out
    again = {f["file"]: f for f in json.loads((dest / "manifest.json").read_text())["files"]}
    assert again == files


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


# ---------------------------------------------------------------- Qt .rcc resource files


def make_rcc(files: dict[str, bytes], version: int = 2, compress: frozenset[str] = frozenset()) -> bytes:
    """A Qt binary resource file built by hand: a root directory, children as consecutive nodes."""
    root: dict = {}
    for path in files:
        *dirs, leaf = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = path
    names, name_at, data_tab = bytearray(), {}, bytearray()

    def name_offset(n: str) -> int:
        if n not in name_at:
            name_at[n] = len(names)
            names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))
        return name_at[n]

    extra = b"" if version == 1 else b"\0" * 8
    nodes: list[bytes | None] = [None]
    queue = [(0, "", root)]
    while queue:
        index, name, children = queue.pop(0)
        first = len(nodes)
        nodes[index] = struct.pack(">IHII", name_offset(name), 0x02, len(children), first) + extra
        nodes.extend([None] * len(children))
        for k, (child, value) in enumerate(sorted(children.items())):
            if isinstance(value, dict):
                queue.append((first + k, child, value))
                continue
            payload, flags = files[value], 0
            if value in compress:
                payload, flags = struct.pack(">I", len(payload)) + zlib.compress(payload), 0x01
            nodes[first + k] = struct.pack(">IHHHI", name_offset(child), flags, 0, 0, len(data_tab)) + extra
            data_tab.extend(struct.pack(">I", len(payload)) + payload)
    header = 20 if version < 3 else 24
    tree = b"".join(nodes)
    offsets = (header, header + len(tree), header + len(tree) + len(data_tab))
    head = b"qres" + struct.pack(">IIII", version, *offsets) + (b"\0" * 4 if version >= 3 else b"")
    return head + tree + bytes(data_tab) + bytes(names)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_index_and_read_a_hand_built_file(fs, version):
    files = {
        "gcompris/act/resource/cat.webp": b"RIFF-cat" * 50,
        "gcompris/act/resource/animals/dog.webp": b"RIFF-dog",
        "gcompris/act/resource/README": b"Copyright: Ann\nLicense: CC0-1.0\nFiles: cat.webp\n",
        "top.txt": "hé".encode(),
    }
    blob = make_rcc(files, version, compress=frozenset({"gcompris/act/resource/cat.webp"}))
    index = fs.rcc_index(blob)
    assert set(index) == set(files)
    assert index["gcompris/act/resource/cat.webp"][0] & fs.RCC_COMPRESSED
    for path, data in files.items():
        assert fs.rcc_read(blob, index[path]) == data


def test_rcc_rejects_malformed_files(fs):
    blob = make_rcc({"a/b.webp": b"x" * 10})
    with pytest.raises(ValueError, match="qres"):
        fs.rcc_index(b"PK\3\4" + blob[4:])
    with pytest.raises(ValueError):
        fs.rcc_index(blob[:30])  # cut inside the tree
    with pytest.raises(ValueError, match="version"):
        fs.rcc_index(b"qres" + struct.pack(">I", 9) + blob[8:])
    index = fs.rcc_index(blob)
    flags, at = index["a/b.webp"]
    with pytest.raises(ValueError, match="zstd"):
        fs.rcc_read(blob, (flags | fs.RCC_ZSTD, at))
    with pytest.raises(ValueError):
        fs.rcc_read(blob, (flags, len(blob) - 2))


# ---------------------------------------------------------------- credits as the packages state them


def test_gcompris_readme_blocks_with_and_without_files_line(fs):
    text = (
        "Copyright: Timothée Giet, 2022\nLicense: CC-BY-SA 4.0\nFiles:\nsquare.svg\n\n"
        "Copyright: Charles J. Sharp\nSource: https://commons.wikimedia.org/wiki/File:Cheetah.jpg\n"
        "License: CC-BY-SA-4.0\nComments: cropping, sharpening\nFiles: cheetah.webp\n\n"
        "Copyright: 2000, 2008 Bruno Coudoin and others\nLicense: CC-BY 4.0\nCastle_0.webp\n"
        "Castle_background.webp\nComment: based on a photo by Someone, license CC-BY 3.0\n"
    )
    parsed = fs.parse_gcompris_readme(text)
    assert parsed["cheetah.webp"] == {
        "copyright": "Charles J. Sharp",
        "source": "https://commons.wikimedia.org/wiki/File:Cheetah.jpg",
        "license": "CC-BY-SA-4.0",
        "comment": "cropping, sharpening",
    }
    assert parsed["Castle_background.webp"]["license"] == "CC-BY 4.0"
    assert parsed["Castle_background.webp"]["comment"].startswith("based on a photo by Someone")
    assert parsed["square.svg"]["copyright"] == "Timothée Giet, 2022"


def test_readme_credit_looks_in_the_folders_above(fs):
    readme = b"Copyright: Ann\nLicense: CC0-1.0\nSource: https://example.org/a\nFiles:\nanimals/a.webp\n"
    blob = make_rcc({"g/act/resource/README": readme, "g/act/resource/animals/a.webp": b"img"})
    index = fs.rcc_index(blob)
    got = fs.readme_credit(blob, index, "g/act/resource/animals/a.webp", "usr/x.rcc")
    assert got["author"] == "Ann" and got["licence"] == "CC0-1.0" and got["licence_scope"] == "file"
    assert (
        got["credit_from"] == "usr/x.rcc:/g/act/resource/README"
        and got["source_url"] == "https://example.org/a"
    )
    assert fs.readme_credit(blob, index, "g/act/resource/animals/b.webp", "usr/x.rcc") is None


def test_desktop_and_debian_copyright_credits(fs):
    desktop = (
        "[Desktop Entry]\nName=Castle\nName[de]=Schloss\nX-KDE-PluginInfo-Author=Eric Pouhier\n"
        "X-KDE-PluginInfo-Website=http://commons.wikimedia.org/wiki/Image:x.jpg\nX-KDE-PluginInfo-License=FDL\n"
        "\n[Job]\nX-KDE-PluginInfo-Author=not this one\n"
    )
    got = fs.desktop_credit(desktop, "usr/share/palapeli/collection/castle.desktop")
    assert (got["author"], got["licence"], got["licence_scope"]) == ("Eric Pouhier", "FDL", "file")
    assert got["source_url"].endswith("x.jpg")
    assert fs.desktop_credit("[Desktop Entry]\nName=x\n", "w") is None

    copyright_ = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2018 Upstream\nLicense: GPL-3+\n\n"
        "Files: 16.04/friends_by_A.jpg\n 16.04/other.jpg\nCopyright: A, 2018\nLicense: CC-BY-4.0\n\n"
        "Files: debian/*\nCopyright: Packager\nLicense: Expat\n\n"
        "License: CC-BY-4.0\n Attribution 4.0 International\n"
    )
    where = "usr/share/doc/pkg/copyright"
    friends = fs.dep5_credit(copyright_, "./usr/share/backgrounds/friends_by_A.jpg", where)
    other = fs.dep5_credit(copyright_, "./usr/share/backgrounds/other.jpg", where)
    assert (friends["author"], friends["licence"], friends["licence_scope"]) == (
        "A, 2018",
        "CC-BY-4.0",
        "file",
    )
    assert other["licence"] == "CC-BY-4.0"
    rest = fs.dep5_credit(copyright_, "./usr/share/doc/pkg/photo.jpg", where)  # not 'debian/*'
    assert (rest["author"], rest["licence"], rest["licence_scope"]) == (None, "GPL-3+", "package")
    assert fs.dep5_credit("Files: a.jpg\nCopyright: x\nLicense: MIT\n", "./b.jpg", where) is None


@pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("apt-get") is None, reason="needs dpkg-deb and apt-get"
)
def test_main_takes_webp_out_of_an_rcc_inside_a_cached_deb(fs, tmp_path, monkeypatch, capsys):
    photo = b"RIFF\0\0\0\0WEBPVP8 fake"
    readme = b"Copyright: Ann\nLicense: CC0-1.0\nFiles: cat.webp\n"
    rcc = make_rcc(
        {"g/act/resource/cat.webp": photo, "g/act/resource/README": readme},
        compress=frozenset({"g/act/resource/README"}),
    )
    root = tmp_path / "pkgroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fakedata\nVersion: 1:2-3\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    (root / "usr/share/fake/rcc").mkdir(parents=True)
    (root / "usr/share/fake/rcc/act.rcc").write_bytes(rcc)
    (root / "usr/share/doc/fakedata").mkdir(parents=True)
    (root / "usr/share/doc/fakedata/copyright").write_text("Files: *\nCopyright: Up\nLicense: GPL-3+\n")
    (tmp_path / "cache" / "apt").mkdir(parents=True)
    deb = tmp_path / "cache" / "apt" / "fakedata_1%3a2-3_all.deb"  # as apt-get download names an epoch
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root), str(deb)], check=True, capture_output=True)
    sha16 = hashlib.sha256(photo).hexdigest()[:16]
    sample = fs.Sample(
        "./usr/share/fake/rcc/act.rcc",
        "tabby_cat",
        "fake-cat.webp",
        "tabby",
        sha16,
        resource="g/act/resource/cat.webp",
    )
    monkeypatch.setattr(fs, "SOURCES", (fs.Source("apt", "fakedata", "1:2-3", (sample,)),))
    dest = tmp_path / "samples"
    assert fs.main(["--dest", str(dest), "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr()
    assert "1 fetched now" in out.out and "failed" not in out.err and "differs" not in out.err
    assert (dest / "tabby_cat" / "fake-cat.webp").read_bytes() == photo
    (entry,) = json.loads((dest / "manifest.json").read_text())["files"]
    assert entry["member"] == "usr/share/fake/rcc/act.rcc" and entry["resource"] == "g/act/resource/cat.webp"
    assert (entry["author"], entry["licence"], entry["licence_scope"]) == ("Ann", "CC0-1.0", "file")
    assert entry["credit_from"] == "usr/share/fake/rcc/act.rcc:/g/act/resource/README"
    assert entry["source"] == "apt:fakedata=1:2-3" and entry["split"] == "validation"
