#!/usr/bin/env python3
"""Fetch real sample photos that ship inside registry packages (stdlib only).

Nothing binary is committed: the photos come out of package archives that are downloaded into a cache
and never installed.

- PyPI wheels, via ``<python> -m pip download --no-deps``: gradio (cheetahs, lion), scikit-image (Chelsea
  the cat, coffee).  Wheels are pinned to one version and one platform tag, so every machine gets the very
  same files; if that exact wheel cannot be had, the newest wheel for this interpreter is used instead.
- Debian packages, via ``apt-get download`` (only the .deb, nothing is installed): opencv-doc (kittens,
  dogs, squirrel, baboon, butterfly, fruit, cow, space shuttle) and darknet (dog, eagle, horses).  Where
  apt is missing or fails, one line says so and the PyPI photos are still fetched.

Output (``--dest``, default ``data/samples`` under the repository root)::

    data/samples/<class folder>/<source>-<name>.<ext>
    data/samples/manifest.json

Class folders are named after an ImageNet class (lowercase, spaces as ``_``), except ``dog``, which holds
several breeds.  The manifest lists every photo with its folder, the package it came from, the member
path inside that package, its sha256 and an ImageNet class-name guess (exact ImageNet spelling), and per
folder the ImageNet class to pass as ``--class`` (null for the mixed ``dog`` folder).

Idempotent: photos already present are not fetched again, and downloaded archives are cached (default
``data/.cache``).  Prints one summary line; exit code 0 when at least one photo is present.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# One platform tag for the binary wheels: their data files are the same on every platform, so pinning the
# tag makes the download identical on every machine (pip may fetch a wheel for another platform).
WHEEL_TAGS = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
]


@dataclass(frozen=True)
class Sample:
    member: str  # path inside the archive
    folder: str  # class folder under dest
    name: str  # file name under the class folder
    imagenet: str  # ImageNet class-name guess, exact spelling
    sha16: str  # first 16 hex digits of the sha256 in the pinned version


@dataclass(frozen=True)
class Source:
    kind: str  # "pypi" or "apt"
    package: str
    version: str
    samples: tuple[Sample, ...]
    wheel_tags: bool = False  # binary wheel: pin the platform tag too

    @property
    def label(self) -> str:
        sep = "==" if self.kind == "pypi" else "="
        return f"{self.kind}:{self.package}{sep}{self.version}"


OCV_HTML = "./usr/share/doc/opencv-doc/opencv4/html/"
OCV_EX = "./usr/share/doc/opencv-doc/examples/"
DARKNET = "./usr/share/darknet/data/"

SOURCES: tuple[Source, ...] = (
    Source(
        "pypi",
        "gradio",
        "6.31.0",
        (
            Sample(
                "gradio/media_assets/images/cheetah.jpg",
                "cheetah",
                "gradio-cheetah.jpg",
                "cheetah",
                "29b0090f5ec471da",
            ),
            Sample(
                "gradio/media_assets/images/cheetah1.jpg",
                "cheetah",
                "gradio-cheetah1.jpg",
                "cheetah",
                "35550bfbba996e59",
            ),
            Sample(
                "gradio/test_data/cheetah2.jpg",
                "cheetah",
                "gradio-cheetah2.jpg",
                "cheetah",
                "6882e714aa43d60a",
            ),
            Sample(
                "gradio/media_assets/images/lion.jpg", "lion", "gradio-lion.jpg", "lion", "4c45ece00075f152"
            ),
        ),
    ),
    Source(
        "pypi",
        "scikit-image",
        "0.26.0",
        (
            Sample(
                "skimage/data/chelsea.png", "tabby_cat", "skimage-chelsea.png", "tabby", "596aa1e7cb875eb7"
            ),
            Sample(
                "skimage/data/coffee.png", "espresso", "skimage-coffee.png", "espresso", "cc02f8ca188b167c"
            ),
        ),
        wheel_tags=True,
    ),
    Source(
        "apt",
        "opencv-doc",
        "4.6.0+dfsg-12",
        (
            Sample(
                OCV_HTML + "Morphology_1_Tutorial_Original_Image.jpg",
                "tabby_cat",
                "opencv-kitten-lying.jpg",
                "tabby",
                "88b50eaed4445bd6",
            ),
            Sample(
                OCV_HTML + "cat_det.jpg",
                "tabby_cat",
                "opencv-kitten-sitting.jpg",
                "tabby",
                "51c6923bd25a8990",
            ),
            Sample(
                OCV_EX + "data/chicky_512.png", "dog", "opencv-chicky_512.png", "Pekinese", "4d2cf040de084fd3"
            ),
            Sample(
                OCV_HTML + "Remap_Tutorial_Original_Image.jpg",
                "dog",
                "opencv-german-shepherd.jpg",
                "German shepherd",
                "e83e5c0216059324",
            ),
            Sample(
                OCV_EX + "data/squirrel_cls.jpg",
                "fox_squirrel",
                "opencv-squirrel_cls.jpg",
                "fox squirrel",
                "20bb6e8ae96918a3",
            ),
            Sample(OCV_EX + "data/baboon.jpg", "baboon", "opencv-baboon.jpg", "baboon", "1a1dd18d78eec444"),
            Sample(
                OCV_EX + "dnn_superres/butterfly.png",
                "monarch",
                "opencv-butterfly.png",
                "monarch",
                "1c50e61afddd60eb",
            ),
            Sample(OCV_EX + "data/orange.jpg", "orange", "opencv-orange.jpg", "orange", "152c20d2f380ac98"),
            Sample(OCV_EX + "data/fruits.jpg", "orange", "opencv-fruits.jpg", "orange", "9c031d80a1c52da5"),
            Sample(
                OCV_HTML + "Laplace_Operator_Tutorial_Original_Image.jpg",
                "ox",
                "opencv-cow-and-calf.jpg",
                "ox",
                "6e838bc95591e154",
            ),
            Sample(
                OCV_HTML + "space_shuttle.jpg",
                "space_shuttle",
                "opencv-space_shuttle.jpg",
                "space shuttle",
                "12a9c70863d95a9b",
            ),
        ),
    ),
    Source(
        "apt",
        "darknet",
        "0.0.0+git20180914.61c9d02e-2+b4",
        (
            Sample(DARKNET + "dog.jpg", "dog", "darknet-dog.jpg", "malamute", "5a9522051c3cec2b"),
            Sample(
                DARKNET + "eagle.jpg", "bald_eagle", "darknet-eagle.jpg", "bald eagle", "f95f57297fd51a6c"
            ),
            Sample(DARKNET + "horses.jpg", "sorrel", "darknet-horses.jpg", "sorrel", "c8f0a677a1356569"),
        ),
    ),
)

# The ImageNet class to pass as --class for each folder; None where the folder mixes classes.
FOLDER_CLASS = {"dog": None}


def folder_class(folder: str, samples: list[Sample]) -> str | None:
    if folder in FOLDER_CLASS:
        return FOLDER_CLASS[folder]
    names = {s.imagenet for s in samples if s.folder == folder}
    return names.pop() if len(names) == 1 else None


class FetchError(Exception):
    pass


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "ERROR"))]
    return (errors or lines or ["no output"])[-1]


# ---------------------------------------------------------------- PyPI


def _find_wheel(cache: Path, package: str, version: str | None) -> Path | None:
    stem = package.replace("-", "_").lower()
    found = sorted(
        p
        for p in cache.glob("*.whl")
        if p.name.lower().startswith(stem + "-") and (version is None or p.name.split("-")[1] == version)
    )
    return found[-1] if found else None


def fetch_wheel(src: Source, cache: Path, notes: list[str]) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    hit = _find_wheel(cache, src.package, src.version)
    if hit:
        return hit
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(cache),
    ]
    tags = WHEEL_TAGS if src.wheel_tags else []
    proc = _run(base + tags + [f"{src.package}=={src.version}"])
    hit = _find_wheel(cache, src.package, src.version)
    if proc.returncode == 0 and hit:
        return hit
    pinned_err = _last_line(proc)
    proc = _run(base + [src.package])  # newest wheel for this interpreter
    hit = _find_wheel(cache, src.package, None)
    if proc.returncode == 0 and hit:
        notes.append(f"{src.package}=={src.version} unavailable ({pinned_err}); used {hit.name}")
        return hit
    raise FetchError(f"pip download {src.package} failed: {_last_line(proc)}")


def extract_wheel(wheel: Path, members: set[str], out: Path) -> dict[str, Path]:
    got = {}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for m in sorted(members & names):
            target = out / m
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            got[m] = target
    return got


# ---------------------------------------------------------------- Debian


class Apt:
    """apt-get download into the cache; apt-get update at most once, and only when a download fails."""

    def __init__(self) -> None:
        self.updated = False
        missing = [t for t in ("apt-get", "dpkg-deb") if shutil.which(t) is None]
        self.unavailable = f"{' and '.join(missing)} not found" if missing else None

    def fetch(self, src: Source, cache: Path, notes: list[str]) -> Path:
        cache.mkdir(parents=True, exist_ok=True)
        hit = self._cached(cache, src.package, src.version)
        if hit:
            return hit
        err = ""
        for spec in (f"{src.package}={src.version}", src.package):
            for attempt in range(2):
                proc = _run(["apt-get", "download", "-q", spec], cwd=cache)
                hit = self._cached(cache, src.package, src.version if "=" in spec else None)
                if proc.returncode == 0 and hit:
                    if "=" not in spec:
                        notes.append(f"{src.package}={src.version} unavailable; used {hit.name}")
                    return hit
                err = _last_line(proc)
                if attempt == 0 and not self.updated:
                    self.updated = True
                    up = _run(["apt-get", "update", "-qq"])
                    if up.returncode != 0:
                        raise FetchError(f"apt-get update failed: {_last_line(up)}")
                else:
                    break
        raise FetchError(f"apt-get download {src.package} failed: {err}")

    @staticmethod
    def _cached(cache: Path, package: str, version: str | None) -> Path | None:
        found = []
        for p in cache.glob(f"{package}_*.deb"):
            parts = p.name.split("_")
            # apt-get download writes an epoch's ':' as '%3a'
            if len(parts) == 3 and (version is None or parts[1].replace("%3a", ":") == version):
                found.append(p)
        return sorted(found)[-1] if found else None


def extract_deb(deb: Path, members: set[str], out: Path) -> dict[str, Path]:
    """Stream the .deb's file tree through tarfile and keep only the wanted members."""
    got: dict[str, Path] = {}
    proc = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for info in tar:
                name = info.name if info.name.startswith("./") else "./" + info.name
                if name in members and info.isfile():
                    target = out / name.lstrip("./")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fin = tar.extractfile(info)
                    assert fin is not None
                    with open(target, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                    got[name] = target
                    if len(got) == len(members):
                        break
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
    return got


# ---------------------------------------------------------------- main


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def place(found: Path, dest: Path, s: Sample, notes: list[str]) -> None:
    target = dest / s.folder / s.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(found, tmp)
    os.replace(tmp, target)  # atomic: an interrupted run never leaves half a photo
    if not sha256(target).startswith(s.sha16):
        notes.append(f"{s.folder}/{s.name} differs from the pinned version's file (label may not fit)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--dest",
        type=Path,
        default=REPO / "data" / "samples",
        help="output folder (default: data/samples in the repository)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="download cache (default: .cache beside --dest, i.e. data/.cache)",
    )
    ap.add_argument("--no-apt", action="store_true", help="skip the Debian packages")
    args = ap.parse_args(argv)
    dest: Path = args.dest.resolve()
    cache: Path = (args.cache or dest.parent / ".cache").resolve()
    started = time.monotonic()
    notes: list[str] = []
    failures: list[str] = []
    fetched = 0
    apt_skipped: list[str] = []
    apt = Apt()
    if args.no_apt:
        apt.unavailable = "--no-apt"

    dest.mkdir(parents=True, exist_ok=True)
    for src in SOURCES:
        todo = [s for s in src.samples if not (dest / s.folder / s.name).is_file()]
        if not todo:
            continue
        if src.kind == "apt" and apt.unavailable:
            apt_skipped.append(src.package)
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="amx-samples-") as tmp:
                members = {s.member for s in todo}
                if src.kind == "pypi":
                    got = extract_wheel(fetch_wheel(src, cache / "pypi", notes), members, Path(tmp))
                else:
                    got = extract_deb(apt.fetch(src, cache / "apt", notes), members, Path(tmp))
                for s in todo:
                    if s.member in got:
                        place(got[s.member], dest, s, notes)
                        fetched += 1
                    else:
                        failures.append(f"{s.member} not in {src.package}")
        except (FetchError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            if src.kind == "apt" and isinstance(exc, FetchError) and "update failed" in str(exc):
                apt.unavailable = str(exc)  # no Debian mirror reachable: one line below, not a failure
                apt_skipped.append(src.package)
            else:
                failures.append(f"{src.label}: {exc}")

    if apt_skipped:
        print(
            f"apt unavailable ({apt.unavailable}): skipped {', '.join(apt_skipped)}; "
            "continuing with the PyPI photos",
            file=sys.stderr,
        )

    # The manifest lists what is on disk, whether fetched now or before.
    present = [(src, s) for src in SOURCES for s in src.samples if (dest / s.folder / s.name).is_file()]
    all_samples = [s for _, s in present]
    folders: dict[str, dict] = {}
    for _, s in present:
        f = folders.setdefault(s.folder, {"imagenet_class": folder_class(s.folder, all_samples), "count": 0})
        f["count"] += 1
    files = [
        {
            "file": f"{s.folder}/{s.name}",
            "folder": s.folder,
            "imagenet_class": s.imagenet,
            "source": src.label,
            "member": s.member.lstrip("./"),
            "sha256": sha256(dest / s.folder / s.name),
            "bytes": (dest / s.folder / s.name).stat().st_size,
        }
        for src, s in present
    ]
    manifest = {
        "generated_by": "scripts/fetch_samples.py",
        "folders": dict(sorted(folders.items())),
        "files": files,
    }
    tmp_manifest = dest / "manifest.json.part"
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, dest / "manifest.json")

    for line in notes + failures:
        print(f"note: {line}" if line in notes else f"failed: {line}", file=sys.stderr)
    total_mb = sum(f["bytes"] for f in files) / 1e6
    multi = sorted((f for f in folders.items() if f[1]["count"] >= 3), key=lambda kv: -kv[1]["count"])
    multi_txt = ", ".join(f"{k} {v['count']}" for k, v in multi) or "none"
    rel = os.path.relpath(dest)
    rel = str(dest) if rel.startswith("..") else rel
    print(
        f"samples: {len(files)} photos in {len(folders)} class folders under {rel} "
        f"({fetched} fetched now, {len(files) - fetched} already there; {total_mb:.1f} MB; "
        f"folders with >=3: {multi_txt}; {len(failures)} failed; {time.monotonic() - started:.1f}s)"
    )
    return 0 if files else 1


if __name__ == "__main__":
    sys.exit(main())
