#!/usr/bin/env python3
"""Fetch real sample photos that ship inside registry packages (stdlib only).

Nothing binary is committed: the photos come out of package archives that are downloaded into a cache
and never installed.  Every archive is pinned to one exact version.

- PyPI wheels, via ``<python> -m pip download --no-deps``: gradio (cheetahs, lion), scikit-image (Chelsea
  the cat, coffee).  Wheels are pinned to one version and one platform tag, so every machine gets the very
  same files; if that exact wheel cannot be had, the newest wheel for this interpreter is used instead.
- Debian packages, via ``apt-get download`` (only the .deb, nothing is installed; works without root as
  long as the package lists are there): opencv-doc (kittens, dogs, squirrel, baboon, butterfly, fruit,
  cow, space shuttle, robin, apple, pot plant, palace, bus), darknet (dogs, eagle, horses, zebra, beach),
  gcompris-qt-data (animals, monuments and coral reefs, as .webp inside Qt ``.rcc`` resource files, which
  this script unpacks itself), palapeli-data (bee, chameleon, castle, citrus, bridge),
  lomiri-wallpapers-16.04 (spaniels, mountains) and mate-backgrounds (ladybird, flowers).  Where apt is
  missing or fails, one line says so and the PyPI photos are still fetched.

Photos keep their original bytes (.jpg, .png, .webp; Pillow and ``amx_core.images`` read all three).

Split (fixed; never re-assign a photo by looking at results): the 20 photos this script fetched before
the validation set existed are the **tuning** split (``TUNING`` below: the presets were tuned on them);
every other photo is **validation**, and so is any photo added later.  The validation photos were chosen
from the packages' contents before any benchmark ran on them: real photographs (short side >= 250 px; the
classifier sees 224 px) whose subject has an ImageNet class.  For a species without one the nearest class
is named, helped by efficientnet_lite0's top-5; monuments, which ImageNet mostly lacks, are grouped by its
top-1 class.  Left out: drawings, screenshots, GCompris' 320 px ``categorization`` pictures, subjects
without an ImageNet class (giraffe, moose, goat, ...), and photos whose terms are unclear or research-only
(foolbox: ImageNet images; pytorch-gradcam: no licence stated).

Output (``--dest``, default ``data/samples`` under the repository root)::

    data/samples/<class folder>/<source>-<name>.<ext>
    data/samples/manifest.json

Class folders are named after an ImageNet class (lowercase, spaces as ``_``) when their photos share one,
else after a superclass (``dog``, ``bird``, ``primate``, ``reptile``, ``ungulate``, ...).  The manifest
lists every photo with its folder, split, the package and exact version it came from, the member path
inside that package (and the path inside the .rcc resource file), its sha256, an ImageNet class-name guess
(exact ImageNet spelling), and author and licence where the package states them: a GCompris README beside
the image, a Palapeli ``.desktop`` file, a ``Files:`` paragraph of debian/copyright that names the photo
(``licence_scope: "file"``); otherwise the package's own licence (``licence_scope: "package"``: the photo's
provenance is not stated).  Per folder it gives the ImageNet class to pass as ``--class`` (null where the
folder mixes classes) and the photo count per split.

Idempotent: photos already present are not fetched again (their credits are carried over from the
previous manifest), and downloaded archives are cached (default ``data/.cache``; about 250 MB on a fresh
machine, most of it opencv-doc, mate-backgrounds and gcompris-qt-data; half a minute).  Prints one summary
line; exit code 0 when at least one photo is present.
"""

from __future__ import annotations

import argparse
import email.parser
import fnmatch
import hashlib
import json
import os
import posixpath
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import zipfile
import zlib
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
    resource: str = ""  # path inside `member` when that is a Qt .rcc resource file

    @property
    def target(self) -> str:
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True)
class Source:
    kind: str  # "pypi" or "apt"
    package: str
    version: str
    samples: tuple[Sample, ...]
    wheel_tags: bool = False  # binary wheel: pin the platform tag too
    desktop: bool = False  # each photo has a .desktop file beside it naming author and licence (Palapeli)

    @property
    def label(self) -> str:
        sep = "==" if self.kind == "pypi" else "="
        return f"{self.kind}:{self.package}{sep}{self.version}"


OCV_HTML = "./usr/share/doc/opencv-doc/opencv4/html/"
OCV_EX = "./usr/share/doc/opencv-doc/examples/"
DARKNET = "./usr/share/darknet/data/"
PALAPELI = "./usr/share/palapeli/collection/"
LOMIRI = "./usr/share/backgrounds/"
MATE = "./usr/share/backgrounds/mate/nature/"


def gc(rcc: str, path: str, folder: str, imagenet: str, sha16: str) -> Sample:
    """A photo inside GCompris' /usr/share/gcompris-qt/rcc/<rcc>.rcc, at gcompris/src/activities/<rcc>/resource/<path>."""
    return Sample(
        f"./usr/share/gcompris-qt/rcc/{rcc}.rcc",
        folder,
        "gcompris-" + posixpath.basename(path),
        imagenet,
        sha16,
        resource=f"gcompris/src/activities/{rcc}/resource/{path}",
    )


def deb(member: str, folder: str, name: str, imagenet: str, sha16: str) -> Sample:
    return Sample(member, folder, name, imagenet, sha16)


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
            # validation
            deb(OCV_EX + "hfs/data/000.jpg", "bird", "opencv-robin.jpg", "robin", "e4fec7e2e67a8a42"),
            deb(
                OCV_EX + "data/apple.jpg",
                "granny_smith",
                "opencv-apple.jpg",
                "Granny Smith",
                "e86879de3d9a807d",
            ),
            deb(
                OCV_EX + "alphamat/input_images/plant.jpg",
                "pot",
                "opencv-plant.jpg",
                "pot",
                "9928b44eee0d1d7a",
            ),
            deb(OCV_EX + "data/home.jpg", "palace", "opencv-home.jpg", "palace", "23b8cf46a1965d0e"),
            deb(
                OCV_HTML + "pexels_double_decker_bus.jpg",
                "trolleybus",
                "opencv-double-decker-bus.jpg",
                "trolleybus",
                "e4c4dd62995cbe30",
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
            # validation
            deb(DARKNET + "person.jpg", "dog", "darknet-person.jpg", "Siberian husky", "cdcbab947e46110f"),
            deb(DARKNET + "giraffe.jpg", "zebra", "darknet-giraffe.jpg", "zebra", "00dc48a9b2af8a1f"),
            deb(DARKNET + "kite.jpg", "seashore", "darknet-kite.jpg", "seashore", "87410f52f79cc256"),
        ),
    ),
    Source(
        "apt",
        "gcompris-qt-data",
        "3.1-2",
        (
            # explore_monuments: ImageNet has few monument classes; grouped by the classifier's top-1
            gc("explore_monuments", "wonders/colosseum.webp", "palace", "palace", "0d38a0c2d4910f89"),
            gc("explore_monuments", "india/hawaMahal.webp", "palace", "palace", "4edb7eed9db596bd"),
            gc("explore_monuments", "india/mysorePalace.webp", "palace", "palace", "a84a26be8d944734"),
            gc("explore_monuments", "india/goldenTemple.webp", "palace", "palace", "ec52355726f8c36c"),
            gc("explore_monuments", "germany/schwerinPalace.webp", "palace", "palace", "91be8dd19821221b"),
            gc("explore_monuments", "france/reimsCathedral.webp", "palace", "palace", "720ddce0a3124d68"),
            gc("explore_monuments", "france/citedeCarcassonne.webp", "castle", "castle", "b9de4b334e76df53"),
            gc(
                "explore_monuments",
                "germany/neuschwansteinCastle.webp",
                "castle",
                "castle",
                "15ec5fcb8758d54e",
            ),
            gc("explore_monuments", "france/chateaudeChambord.webp", "castle", "castle", "a96693bfff66c9a7"),
            gc("explore_monuments", "wonders/petra.webp", "monastery", "monastery", "cc782ccdd5b50829"),
            gc("explore_monuments", "usa/fortSumter.webp", "monastery", "monastery", "42c8376f99f770fa"),
            gc(
                "explore_monuments",
                "france/arlesAmphitheater.webp",
                "monastery",
                "monastery",
                "62d80a80ca5e5040",
            ),
            gc("explore_monuments", "india/rangGhar.webp", "monastery", "monastery", "41791947f8772c9b"),
            gc("explore_monuments", "wonders/tajMahal.webp", "mosque", "mosque", "fc0d45ec5a258568"),
            gc("explore_monuments", "india/charminar.webp", "mosque", "mosque", "a657a2139787bded"),
            gc("explore_monuments", "wonders/machuPicchu.webp", "landscape", "alp", "e04e163ccef6e594"),
            # details: the puzzle's whole picture
            gc(
                "details", "image/EgeskovSlotSpejling_background.webp", "castle", "castle", "6ba38f91b6f6f53c"
            ),
            gc("details", "image/Nagoya_background.webp", "castle", "castle", "84b09f2cc12c464b"),
            gc("details", "image/EilanDonanCastle_background.webp", "castle", "castle", "cd94fbfc2ef05477"),
            gc("details", "image/TajMahal_background.webp", "mosque", "mosque", "9c2796c2a415cfd3"),
            # clickgame: underwater backgrounds
            gc("clickgame", "sea2.webp", "coral_reef", "coral reef", "533dcc0d871a390d"),
            gc("clickgame", "sea3.webp", "coral_reef", "coral reef", "9c8236a6ade2a59f"),
            gc("clickgame", "sea4.webp", "coral_reef", "coral reef", "21295e109d35b0f1"),
            gc("clickgame", "sea6.webp", "coral_reef", "coral reef", "42f7a4152c54f8bf"),
            # erase: 1920x1080 animal photos
            gc("erase", "cheetah.webp", "cheetah", "cheetah", "b9d85c2e2899036e"),
            gc("erase", "kitten.webp", "tabby_cat", "tabby", "c6f3a52585a3d617"),
            gc("erase", "squirrel.webp", "fox_squirrel", "fox squirrel", "56bdd761a41440bd"),
            gc("erase", "horse.webp", "sorrel", "sorrel", "15b49393342bf7de"),
            gc("erase", "calf.webp", "ox", "ox", "5957d392349d9016"),
            gc("erase", "gibbon.webp", "primate", "gibbon", "a7b242c4b014e7e3"),
            gc("erase", "gorilla.webp", "primate", "gorilla", "5ce6131ce966f585"),
            gc("erase", "macaque.webp", "primate", "macaque", "3a97a3c854c6d93c"),
            gc("erase", "long_nosed_monkey.webp", "primate", "proboscis monkey", "7dcb104852733952"),
            gc("erase", "penguin.webp", "bird", "king penguin", "1c8be6df0a6ff161"),
            gc("erase", "northern_harrier.webp", "bird", "kite", "e2b2f388dc6f92ce"),
            gc("erase", "kingfisher.webp", "bird", "jacamar", "b637658d7e0f8f55"),  # no kingfisher class
            gc("erase", "spoonbills.webp", "bird", "spoonbill", "f67d7d04bf3ba227"),
            gc("erase", "heron.webp", "bird", "little blue heron", "63006dabe8b74b82"),  # a purple heron
            gc("erase", "toucan.webp", "bird", "toucan", "977b0ff4277075a4"),  # an aracari
            gc("erase", "gosling.webp", "bird", "goose", "dab7bc930f6fe4f7"),
            gc("erase", "red_panda.webp", "bear_panda", "lesser panda", "ec755f7b9d895303"),
            gc("erase", "chamaeleon.webp", "reptile", "African chameleon", "8a338c7df32949c5"),
            gc("erase", "alpaca.webp", "ungulate", "llama", "ffd29864f09bf743"),
            gc("erase", "camels.webp", "ungulate", "Arabian camel", "df4da85790b8a403"),  # Bactrian camels
            gc("erase", "nubian_ibex.webp", "ungulate", "ibex", "5268033ecc366dbc"),
            gc("erase", "meerkats.webp", "other_mammal", "meerkat", "459198d83393a183"),
            gc("erase", "crab.webp", "invertebrate", "rock crab", "822be2d08adc89a7"),
            gc("erase", "bee.webp", "invertebrate", "bee", "810de9fea0499e4d"),
            # a Parantica (glassy tiger), a milkweed butterfly like the monarch: not in the monarch folder
            gc("erase", "butterfly.webp", "invertebrate", "monarch", "e12b50bb4ee6bb36"),
            # explore_world_animals
            gc("explore_world_animals", "animals/jaguar.webp", "jaguar", "jaguar", "22704727b6643480"),
            gc(
                "explore_world_animals", "animals/lemur.webp", "primate", "Madagascar cat", "4fccf91dd5e6a749"
            ),
            gc(
                "explore_world_animals",
                "animals/polar_bear.webp",
                "bear_panda",
                "ice bear",
                "0544cef0a7d6940d",
            ),
            gc(
                "explore_world_animals", "animals/panda.webp", "bear_panda", "giant panda", "70ccf9a9db500810"
            ),
            gc(
                "explore_world_animals", "animals/dragon.webp", "reptile", "Komodo dragon", "fc36683cc2069ac8"
            ),
            gc(
                "explore_world_animals",
                "animals/crocodile.webp",
                "reptile",
                "African crocodile",
                "840cf54b69bf4fb9",
            ),
            # a garden lizard (Calotes), despite its file name
            gc("explore_world_animals", "animals/chameleon.webp", "reptile", "agama", "f3ececf0133c1301"),
            gc("explore_world_animals", "animals/bison.webp", "ungulate", "bison", "11f3b2c5b876ee08"),
            gc("explore_world_animals", "animals/koala.webp", "other_mammal", "koala", "77b243c27d79f3f5"),
            gc(
                "explore_world_animals",
                "animals/kangaroo.webp",
                "other_mammal",
                "wallaby",
                "683964b6f57fdced",
            ),
            gc(
                "explore_world_animals",
                "animals/hedgehog.webp",
                "other_mammal",
                "porcupine",
                "780aceaa624415db",
            ),
            # explore_farm_animals
            gc("explore_farm_animals", "animals/dog.webp", "dog", "German shepherd", "5e9d954449574010"),
            gc("explore_farm_animals", "animals/chicken.webp", "bird", "hen", "30a07d3c7dfc191f"),
            gc("explore_farm_animals", "animals/cow.webp", "ox", "ox", "db359136be5ef7c4"),
            gc("explore_farm_animals", "animals/sheep.webp", "ungulate", "ram", "3bac61d5dabb709c"),
            gc("explore_farm_animals", "animals/pig.webp", "ungulate", "hog", "4f3d27d1fd3d0b3c"),
        ),
    ),
    Source(
        "apt",
        "palapeli-data",
        "4:22.12.3-1",
        (
            deb(
                PALAPELI + "european-honey-bee.jpg",
                "invertebrate",
                "palapeli-european-honey-bee.jpg",
                "bee",
                "9d54ae706bddd899",
            ),
            deb(
                PALAPELI + "panther-chameleon-female.jpg",
                "reptile",
                "palapeli-panther-chameleon-female.jpg",
                "African chameleon",
                "adb9e2834a8a3db4",
            ),
            deb(
                PALAPELI + "castle-maintenon.jpg",
                "castle",
                "palapeli-castle-maintenon.jpg",
                "castle",
                "f4a6bf48b97d9771",
            ),
            # citrus slices, oranges most of them (efficientnet_lite0: lemon 0.72, orange 0.22)
            deb(
                PALAPELI + "citrus-fruits.jpg",
                "orange",
                "palapeli-citrus-fruits.jpg",
                "orange",
                "0cbd7154a1478980",
            ),
            deb(
                PALAPELI + "cincinnati-bridge.jpg",
                "suspension_bridge",
                "palapeli-cincinnati-bridge.jpg",
                "suspension bridge",
                "09772d09318b34a5",
            ),
        ),
        desktop=True,
    ),
    Source(
        "apt",
        "lomiri-wallpapers-16.04",
        "20.04.0-2",
        (
            deb(
                LOMIRI + "friends_by_Aitzol_Berasategi.jpg",
                "dog",
                "lomiri-friends_by_Aitzol_Berasategi.jpg",
                "cocker spaniel",
                "cc40e313c74e421e",
            ),
            deb(
                LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg",
                "landscape",
                "lomiri-aitzgorri_by_Aitzol_Berasategi.jpg",
                "alp",
                "66268e7b48f8854d",
            ),
            deb(
                LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                "landscape",
                "lomiri-picosdeeuropa_by_Aitzol_Berasategi.jpg",
                "alp",
                "414d0072b2f6f2c5",
            ),
            deb(
                LOMIRI + "life_by_Aitzol_Berasategi.jpg",
                "landscape",
                "lomiri-life_by_Aitzol_Berasategi.jpg",
                "valley",
                "4c119350ead80201",
            ),
        ),
    ),
    Source(
        "apt",
        "mate-backgrounds",
        "1.26.0-1",
        (
            deb(MATE + "LadyBird.jpg", "invertebrate", "mate-LadyBird.jpg", "ladybug", "e35a9a4126ef969c"),
            deb(MATE + "FreshFlower.jpg", "daisy", "mate-FreshFlower.jpg", "daisy", "972b0a0c4e5e3fa9"),
            deb(MATE + "YellowFlower.jpg", "daisy", "mate-YellowFlower.jpg", "daisy", "254da96256acb7ad"),
        ),
    ),
)

# The tuning split: the 20 photos the presets were tuned on (everything this script fetched before the
# validation photos were added).  Fixed: every other photo is validation, whatever results say.
TUNING = frozenset(
    {
        "cheetah/gradio-cheetah.jpg",
        "cheetah/gradio-cheetah1.jpg",
        "cheetah/gradio-cheetah2.jpg",
        "lion/gradio-lion.jpg",
        "tabby_cat/skimage-chelsea.png",
        "espresso/skimage-coffee.png",
        "tabby_cat/opencv-kitten-lying.jpg",
        "tabby_cat/opencv-kitten-sitting.jpg",
        "dog/opencv-chicky_512.png",
        "dog/opencv-german-shepherd.jpg",
        "fox_squirrel/opencv-squirrel_cls.jpg",
        "baboon/opencv-baboon.jpg",
        "monarch/opencv-butterfly.png",
        "orange/opencv-orange.jpg",
        "orange/opencv-fruits.jpg",
        "ox/opencv-cow-and-calf.jpg",
        "space_shuttle/opencv-space_shuttle.jpg",
        "dog/darknet-dog.jpg",
        "bald_eagle/darknet-eagle.jpg",
        "sorrel/darknet-horses.jpg",
    }
)
SPLITS = ("tuning", "validation")


def split_of(target: str) -> str:
    """'tuning' for the 20 original photos (folder/name), 'validation' for every other."""
    return "tuning" if target in TUNING else "validation"


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


# ---------------------------------------------------------------- Qt resource files (.rcc)

RCC_COMPRESSED, RCC_DIRECTORY, RCC_ZSTD = 0x01, 0x02, 0x04


def rcc_index(blob: bytes) -> dict[str, tuple[int, int]]:
    """The files in a Qt binary resource file (.rcc): path (without ':/') -> (flags, offset of its data).

    Layout (Qt's rcc, format versions 1 to 3, all numbers big-endian): b"qres", then u32 version and the
    u32 offsets of the tree, data and names tables (version 3 adds u32 flags).  A tree node is u32 name
    offset and u16 flags, then u32 child count and u32 index of the first child (a directory; children are
    consecutive nodes) or u16 country, u16 language and u32 data offset (a file); from version 2 every node
    has 8 more bytes (last modified).  A name is u16 length, u32 hash and the UTF-16BE characters; a data
    entry is u32 size and the bytes.  Node 0 is the root directory.  Raises ValueError on a malformed file.
    """
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file (no 'qres' magic)")
    try:
        version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
        if version not in (1, 2, 3):
            raise ValueError(f"unknown .rcc format version {version}")
        node_size = 14 if version == 1 else 22
        n_nodes = (len(blob) - tree) // node_size if tree < len(blob) else 0

        def name(offset: int) -> str:
            (length,) = struct.unpack_from(">H", blob, names + offset)
            start = names + offset + 6
            raw = blob[start : start + 2 * length]
            if len(raw) != 2 * length:
                raise ValueError("truncated name table")
            return raw.decode("utf-16-be")

        files: dict[str, tuple[int, int]] = {}
        seen: set[int] = set()
        stack = [(0, "")]
        while stack:
            index, prefix = stack.pop()
            if index in seen or index >= n_nodes:
                raise ValueError(f"bad node {index} in the resource tree")
            seen.add(index)
            at = tree + index * node_size
            name_offset, flags = struct.unpack_from(">IH", blob, at)
            path = posixpath.join(prefix, name(name_offset)) if index else ""
            if flags & RCC_DIRECTORY:
                count, first = struct.unpack_from(">II", blob, at + 6)
                if first + count > n_nodes:
                    raise ValueError(f"directory {path or '/'} points past the tree")
                stack.extend((first + k, path) for k in range(count))
            else:
                (offset,) = struct.unpack_from(">I", blob, at + 10)
                files[path] = (flags, data + offset)
    except struct.error as exc:
        raise ValueError(f"truncated .rcc file ({exc})") from None
    return files


def rcc_read(blob: bytes, entry: tuple[int, int]) -> bytes:
    """One file's bytes from an .rcc blob, given its `rcc_index` entry; zlib-compressed ones unpacked."""
    flags, at = entry
    try:
        (size,) = struct.unpack_from(">I", blob, at)
    except struct.error:
        raise ValueError("data offset past the end of the .rcc file") from None
    raw = blob[at + 4 : at + 4 + size]
    if len(raw) != size:
        raise ValueError("truncated data in the .rcc file")
    if flags & RCC_ZSTD:
        raise ValueError("zstd-compressed resource (needs the zstandard package; not supported)")
    if flags & RCC_COMPRESSED:  # qCompress: u32 uncompressed size, then a zlib stream
        if size < 4:
            raise ValueError("truncated compressed entry in the .rcc file")
        (expect,) = struct.unpack_from(">I", raw)
        try:
            out = zlib.decompress(raw[4:])
        except zlib.error as exc:
            raise ValueError(f"bad zlib data in the .rcc file ({exc})") from None
        if len(out) != expect:
            raise ValueError("compressed entry of the wrong size in the .rcc file")
        return out
    return raw


# ---------------------------------------------------------------- who made a photo, under which licence

CREDIT_KEYS = ("author", "licence", "licence_scope", "credit_from", "source_url", "comment")


def credit(where=None, scope=None, author=None, licence=None, url=None, comment=None) -> dict:
    """`licence_scope`: "file" when the package names this photo, "package" for the package's licence."""
    vals = (author, licence, scope, where, url, comment)
    return {
        k: ((v.strip() or None) if isinstance(v, str) else v) for k, v in zip(CREDIT_KEYS, vals, strict=True)
    }


_README_KEY = re.compile(r"^(Copyright|Author|Licen[cs]e|Source|Comments?|Files)\s*:\s*(.*)$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^[\w./+-]+\.[A-Za-z0-9]{2,5}$")


def parse_gcompris_readme(text: str) -> dict[str, dict[str, str]]:
    """GCompris' per-folder README: blocks of 'Copyright:', 'License:', 'Source:', 'Comment:' and the file
    names (after 'Files:' or bare lines), blocks separated by blank lines.  -> file name -> fields."""
    out: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        info: dict[str, str] = {}
        files: list[str] = []
        for line in block.splitlines():
            m = _README_KEY.match(line.strip())
            if m:
                key = m.group(1).lower()
                key = {"licence": "license", "comments": "comment", "author": "copyright"}.get(key, key)
                if key == "files":
                    files += [t for t in m.group(2).split() if _FILE_NAME.match(t)]
                elif m.group(2).strip():
                    info[key] = m.group(2).strip()
            else:
                files += [t for t in line.split() if _FILE_NAME.match(t)]
        for f in files:
            out[f] = info
    return out


def readme_credit(blob: bytes, index: dict[str, tuple[int, int]], resource: str, where: str) -> dict | None:
    """The README block naming `resource`, looked for in its folder and each folder above it."""
    folder = posixpath.dirname(resource)
    while folder:
        readme = posixpath.join(folder, "README")
        if readme in index:
            entry = parse_gcompris_readme(rcc_read(blob, index[readme]).decode("utf-8", "replace")).get(
                posixpath.relpath(resource, folder)
            )
            if entry is not None:
                return credit(
                    f"{where}:/{readme}",
                    "file",
                    entry.get("copyright"),
                    entry.get("license"),
                    entry.get("source"),
                    entry.get("comment"),
                )
        folder = posixpath.dirname(folder)
    return None


def parse_desktop(text: str) -> dict[str, str]:
    """The [Desktop Entry] keys of a .desktop file (Palapeli puzzles name author, licence and website)."""
    keys: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Desktop Entry" and "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            keys[k.strip()] = v.strip()
    return keys


def desktop_credit(text: str, where: str) -> dict | None:
    keys = parse_desktop(text)
    author = keys.get("X-KDE-PluginInfo-Author")
    licence = keys.get("X-KDE-PluginInfo-License")
    if not (author or licence):
        return None
    return credit(where, "file", author, licence, keys.get("X-KDE-PluginInfo-Website"))


def parse_dep5(text: str) -> list[tuple[list[str], str, str]]:
    """The 'Files:' paragraphs of a machine-readable debian/copyright: (patterns, copyright, licence name)."""
    paras = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = [value.strip()]
        files = fields.get("files") or fields.get("file")
        if files:
            patterns = " ".join(files).split()
            copyright_ = "; ".join(x for x in fields.get("copyright", []) if x and x != ".")
            licence = (fields.get("license") or [""])[0]
            paras.append((patterns, copyright_, licence))
    return paras


def dep5_credit(text: str, member: str, where: str) -> dict | None:
    """The last paragraph whose pattern fits `member` (DEP-5's rule).  Patterns name upstream source paths,
    not installed ones, so they are matched on the file name; only 'Files: *' (scope "package") stands for
    every file."""
    base = posixpath.basename(member)
    found = None
    for patterns, copyright_, licence in parse_dep5(text):
        for p in patterns:
            p_base = posixpath.basename(p.rstrip("/"))
            if p == "*":
                found = (copyright_, licence, "package")
            elif p_base != "*" and fnmatch.fnmatchcase(base, p_base):
                found = (copyright_, licence, "file")
    if found is None:
        return None
    copyright_, licence, scope = found
    # 'Files: *' names who holds the package's copyright, not who took the photo
    return credit(where, scope, copyright_ if scope == "file" else None, licence)


def wheel_credit(wheel: Path, member: str) -> dict | None:
    """The wheel's own licence (its METADATA; a DEP-5 text there is searched for the file itself)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if not meta:
            return None
        headers = email.parser.HeaderParser().parsestr(zf.read(meta[0]).decode("utf-8", "replace"))
    where = meta[0]
    text = headers.get("License") or ""
    if re.search(r"^\s*Files:", text, re.MULTILINE):  # a debian/copyright text, its lines indented
        first, _, rest = text.partition("\n")
        found = dep5_credit(first + "\n" + textwrap.dedent(rest), member, where)
        if found:
            return found
    licence = headers.get("License-Expression") or (text.strip() if 0 < len(text.strip()) <= 80 else None)
    if not licence:
        classifiers = [c for c in headers.get_all("Classifier") or [] if c.startswith("License ::")]
        licence = classifiers[0].split("::")[-1] if classifiers else None
    return credit(where, "package", None, licence) if licence else None


# ---------------------------------------------------------------- one source


def extract_source(
    src: Source, archive: Path, samples: list[Sample], out: Path
) -> tuple[dict[str, Path], dict[str, dict], list[str]]:
    """Unpack `samples` from a downloaded archive into `out`, with what the package says about each
    photo.  -> (target -> extracted file, target -> credit, failures)."""
    photos: dict[str, Path] = {}
    credits: dict[str, dict] = {}
    failures: list[str] = []
    if src.kind == "pypi":
        got = extract_wheel(archive, {s.member for s in samples}, out)
        for s in samples:
            if s.member in got:
                photos[s.target] = got[s.member]
                credits[s.target] = wheel_credit(archive, s.member) or credit()
            else:
                failures.append(f"{s.member} not in {src.package}")
        return photos, credits, failures

    copyright_member = f"./usr/share/doc/{src.package}/copyright"
    desktops = (
        {s.target: posixpath.splitext(s.member)[0] + ".desktop" for s in samples} if src.desktop else {}
    )
    got = extract_deb(archive, {s.member for s in samples} | {copyright_member} | set(desktops.values()), out)
    copyright_text = got[copyright_member].read_text("utf-8", "replace") if copyright_member in got else ""
    rcc: dict[str, tuple[bytes, dict[str, tuple[int, int]]]] = {}
    for s in samples:
        if s.member not in got:
            failures.append(f"{s.member} not in {src.package}")
            continue
        found = None
        if s.resource:
            try:
                if s.member not in rcc:
                    blob = got[s.member].read_bytes()
                    rcc[s.member] = (blob, rcc_index(blob))
                blob, index = rcc[s.member]
                if s.resource not in index:
                    failures.append(f"{s.resource} not in {s.member.lstrip('./')} of {src.package}")
                    continue
                photo = out / "rcc" / s.target
                photo.parent.mkdir(parents=True, exist_ok=True)
                photo.write_bytes(rcc_read(blob, index[s.resource]))
                found = readme_credit(blob, index, s.resource, s.member.lstrip("./"))
            except ValueError as exc:
                failures.append(f"{s.member.lstrip('./')} of {src.package}: {exc}")
                continue
        else:
            photo = got[s.member]
        if found is None and s.target in desktops and desktops[s.target] in got:
            text = got[desktops[s.target]].read_text("utf-8", "replace")
            found = desktop_credit(text, desktops[s.target].lstrip("./"))
        if found is None and copyright_text:
            found = dep5_credit(copyright_text, s.member, copyright_member.lstrip("./"))
        photos[s.target] = photo
        credits[s.target] = found or credit()
    return photos, credits, failures


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


def previous_entries(dest: Path) -> dict[str, dict]:
    """The previous manifest's entries that carry credits (target -> entry); {} when there is none."""
    try:
        files = json.loads((dest / "manifest.json").read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return {}
    return {
        f["file"]: f
        for f in files
        if isinstance(f, dict) and isinstance(f.get("file"), str) and f.get("credit_from") is not None
    }


def cached_archive(src: Source, cache: Path) -> Path | None:
    if src.kind == "pypi":
        return _find_wheel(cache / "pypi", src.package, src.version)
    return Apt._cached(cache / "apt", src.package, src.version)


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
    previous = previous_entries(dest)
    hashes: dict[str, str] = {}

    def digest(s: Sample) -> str:
        if s.target not in hashes:
            hashes[s.target] = sha256(dest / s.target)
        return hashes[s.target]

    credits: dict[str, dict] = {}
    for src in SOURCES:
        todo, uncredited = [], []
        for s in src.samples:
            old = previous.get(s.target)
            if not (dest / s.target).is_file():
                todo.append(s)
            elif (
                old
                and old.get("sha256") == digest(s)
                and old.get("source") == src.label
                and old.get("member") == s.member.lstrip("./")
                and (old.get("resource") or "") == s.resource
            ):
                credits[s.target] = {k: old.get(k) for k in CREDIT_KEYS}
            else:
                uncredited.append(s)
        if not todo and not uncredited:
            continue
        if src.kind == "apt" and apt.unavailable:
            if todo:
                apt_skipped.append(src.package)
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="amx-samples-") as tmp:
                if todo:
                    if src.kind == "pypi":
                        archive = fetch_wheel(src, cache / "pypi", notes)
                    else:
                        archive = apt.fetch(src, cache / "apt", notes)
                else:  # photos there, credits unknown: read them from a cached archive, never download
                    archive = cached_archive(src, cache)
                    if archive is None:
                        continue
                photos, found, missing = extract_source(src, archive, todo + uncredited, Path(tmp))
                failures += missing
                credits.update(found)
                for s in todo:
                    if s.target in photos:
                        place(photos[s.target], dest, s, notes)
                        hashes.pop(s.target, None)
                        fetched += 1
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
    present = [(src, s) for src in SOURCES for s in src.samples if (dest / s.target).is_file()]
    all_samples = [s for _, s in present]
    folders: dict[str, dict] = {}
    for _, s in present:
        f = folders.setdefault(
            s.folder,
            {"imagenet_class": folder_class(s.folder, all_samples), "count": 0, "tuning": 0, "validation": 0},
        )
        f["count"] += 1
        f[split_of(s.target)] += 1
    files = [
        {
            "file": s.target,
            "folder": s.folder,
            "split": split_of(s.target),
            "imagenet_class": s.imagenet,
            "source": src.label,
            "package": src.package,
            "version": src.version,
            "member": s.member.lstrip("./"),
            "resource": s.resource or None,
            "sha256": digest(s),
            "bytes": (dest / s.target).stat().st_size,
            **credits.get(s.target, credit()),
        }
        for src, s in present
    ]
    manifest = {
        "generated_by": "scripts/fetch_samples.py",
        "split_rule": (
            "tuning: the 20 photos the presets were tuned on (TUNING in scripts/fetch_samples.py); "
            "validation: every other photo. Fixed; never re-assigned by looking at results."
        ),
        "folders": dict(sorted(folders.items())),
        "files": files,
    }
    tmp_manifest = dest / "manifest.json.part"
    tmp_manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp_manifest, dest / "manifest.json")

    for line in notes + failures:
        print(f"note: {line}" if line in notes else f"failed: {line}", file=sys.stderr)
    total_mb = sum(f["bytes"] for f in files) / 1e6
    n_split = {k: sum(f["split"] == k for f in files) for k in SPLITS}
    multi = sorted(
        (f for f in folders.items() if f[1]["count"] >= 3), key=lambda kv: (-kv[1]["count"], kv[0])
    )
    multi_txt = ", ".join(f"{k} {v['count']}" for k, v in multi) or "none"
    rel = os.path.relpath(dest)
    rel = str(dest) if rel.startswith("..") else rel
    print(
        f"samples: {len(files)} photos ({n_split['tuning']} tuning, {n_split['validation']} validation) "
        f"in {len(folders)} class folders under {rel} "
        f"({fetched} fetched now, {len(files) - fetched} already there; {total_mb:.1f} MB; "
        f"folders with >=3: {multi_txt}; {len(failures)} failed; {time.monotonic() - started:.1f}s)"
    )
    return 0 if files else 1


if __name__ == "__main__":
    sys.exit(main())
