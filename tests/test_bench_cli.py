"""amx-bench end to end on two generated images with a small classifier and two fast methods; user errors
are one line each, never a traceback."""

import csv
import importlib.util

import pytest
from PIL import Image

from amx_bench.cli import main, markdown, read_rows, speed_ratios
from amx_bench.methods import METHODS
from tests.imagefiles import good_images


def test_bench_runs_end_to_end_on_two_images_with_two_fast_methods(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    rc = main(["--images", str(tmp_path / "in"), "--methods", "gradcam,occlusion", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert {p.name for p in out.iterdir()} == {"bench.md", "bench.csv", "grid.png"}
    with open(out / "bench.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["image"], r["method"], r["variant"]) for r in rows] == [
        ("img00.png", "gradcam", "ranking"), ("img00.png", "occlusion", "ranking"),
        ("img01.png", "gradcam", "ranking"), ("img01.png", "occlusion", "ranking"),
    ]
    for r in rows:
        assert 0 < float(r["area"]) <= 1 and r["label_kept"] == "1"  # a ranking keeps it by construction
        assert 0 <= float(r["robustness"]) <= 1
        assert 0 <= float(r["deletion_auc"]) <= 1 and 0 <= float(r["insertion_auc"]) <= 1
        assert float(r["seconds"]) > 0
        assert "torch 2." in r["runs_in"]
    gradcam = [r for r in rows if r["method"] == "gradcam"]
    occlusion = [r for r in rows if r["method"] == "occlusion"]
    assert all((r["forward_passes"], r["backward_passes"]) == ("1", "1") for r in gradcam)
    # captum's 15x15 window at stride 8 on 64x64: 8 x 8 positions, plus the unoccluded reference
    assert all((r["forward_passes"], r["backward_passes"]) == ("65", "0") for r in occlusion)
    md = (out / "bench.md").read_text()
    assert "| gradcam | this env, torch" in md and "| occlusion | this env, torch" in md
    assert "img01.png" in md
    with Image.open(out / "grid.png") as grid:
        assert grid.size == (408, 288)  # two rows (images) of three panels (the image and two methods) at 80 dpi
    assert "Traceback" not in err


def test_amx_gets_a_ranking_row_and_a_mask_as_is_row(tmp_path, tiny):
    good_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    rc = main(["--images", str(tmp_path / "in"), "--methods", "amx-default", "--out", str(out), "--no-figure"])
    assert rc == 0
    rows = read_rows(out / "bench.csv")
    assert [(r.method, r.variant) for r in rows] == [("amx-default", "ranking"), ("amx-default", "mask as is")]
    assert rows[0].seconds == rows[1].seconds and rows[0].forward_passes > 40  # one run, two readings
    assert rows[1].deletion_auc is None and rows[0].deletion_auc is not None
    assert "amx-default (mask as is)" in (out / "bench.md").read_text()


def test_subset_runs_an_expensive_method_on_the_first_images_only(tmp_path, tiny):
    good_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    rc = main(["--images", str(tmp_path / "in"), "--methods", "gradcam", "occlusion", "--subset", "occlusion:1",
               "--out", str(out), "--no-figure"])
    assert rc == 0
    rows = read_rows(out / "bench.csv")
    assert [(r.image, r.method) for r in rows] == [("img00.png", "gradcam"), ("img00.png", "occlusion"),
                                                   ("img01.png", "gradcam")]
    md = (out / "bench.md").read_text()
    assert "### The same on the 1 image(s) that every method listed here ran on" in md
    same = md.split("### The same on the 1 image(s)")[1].split("##")[0]
    assert "| gradcam | " in same and "| occlusion | " in same and "| 1 |" in same


def test_speed_ratio_is_taken_on_the_images_both_methods_ran_on(tmp_path, tiny):
    good_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert main(["--images", str(tmp_path / "in"), "--methods", "gradcam", "--out", str(out), "--no-figure"]) == 0
    rows = read_rows(out / "bench.csv")
    for r, s in zip(rows, (1.0, 3.0), strict=True):
        r.seconds = s
    ep = [type(r)(**{**r.__dict__, "method": "extremal-perturbation", "seconds": 10.0}) for r in rows[:1]]
    amx = [type(r)(**{**r.__dict__, "method": "amx-default"}) for r in rows]
    assert speed_ratios(amx + ep, "extremal-perturbation") == {"amx-default": pytest.approx(10.0)}
    md = markdown(amx + ep, command="amx-bench", model="m", threads=1, device="cpu", n_images=2)
    assert "amx-default: 10.0x" in md


def _error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amx-bench: error: "), err
    return lines[0]


def test_user_errors_are_one_clear_line(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 1)
    (tmp_path / "empty").mkdir()
    assert "no such folder" in _error(capsys, ["--images", str(tmp_path / "nope")])
    assert "not a folder" in _error(capsys, ["--images", str(tmp_path / "in" / "img00.png")])
    assert "no image files found" in _error(capsys, ["--images", str(tmp_path / "empty")])
    line = _error(capsys, ["--images", str(tmp_path / "in"), "--methods", "gradcam,lime"])
    assert "unknown method 'lime'" in line and all(name in line for name in METHODS)
    line = _error(capsys, ["--images", str(tmp_path / "in"), "--methods", "gradcam", "--subset", "rise:2"])
    assert "'rise' is not among the methods run" in line
    assert "expected METHOD" in _error(capsys, ["--images", str(tmp_path / "in"), "--subset", "rise"])
    assert "at least 1" in _error(capsys, ["--images", str(tmp_path / "in"), "--threads", "0"])


def test_a_missing_peer_names_the_pip_extra(tmp_path, tiny, capsys, monkeypatch):
    good_images(tmp_path / "in", 1)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchray" else real(name, *a))
    line = _error(capsys, ["--images", str(tmp_path / "in"), "--methods", "extremal-perturbation"])
    assert "needs the PyPI package torchray" in line and "pip install 'amx-circuits[bench]'" in line


def test_the_default_method_list_leaves_out_a_missing_peer_with_a_note(monkeypatch, capsys):
    from amx_bench.cli import usable_methods
    from amx_bench.methods import METHODS

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchray" else real(name, *a))
    kept = [m.name for m in usable_methods(list(METHODS.values()), explicit=False)]
    assert "rise" not in kept and "extremal-perturbation" not in kept
    assert "gradcam" in kept and "amx-default" in kept
    err = capsys.readouterr().err
    assert "left out rise" in err and "left out extremal-perturbation" in err
