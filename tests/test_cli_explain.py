"""amx-explain end to end on a small classifier: outputs are exact and re-checkable, bad files are one line each."""

import json

import numpy as np
import pytest
from PIL import Image

import amx_core.models
from amx_core.cli import main
from tests.imagefiles import bad_images, good_images
from tests.tiny import tiny_classifier


@pytest.fixture
def tiny(monkeypatch):
    clf = tiny_classifier()
    monkeypatch.setattr(amx_core.models, "load_classifier", lambda *a, **k: clf)
    return clf


def test_outputs_are_the_classifiers_input_and_a_white_kept_mask(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 2)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--steps", "3", "--batch-size", "2"])
    assert rc == 0
    folders = sorted((tmp_path / "out").iterdir())
    assert len(folders) == 2 and all(not f.name.endswith(".partial") for f in folders)
    f = folders[0]
    assert {p.name for p in f.iterdir()} == {"original.png", "mask.png", "explanation.png", "figure.png",
                                             "record.json"}
    orig = np.asarray(Image.open(f / "original.png"), dtype=np.float64)
    mask = np.asarray(Image.open(f / "mask.png"), dtype=np.float64)
    expl = np.asarray(Image.open(f / "explanation.png"), dtype=np.float64)
    assert orig.shape == (64, 64, 3) and mask.shape == (64, 64)
    assert set(np.unique(mask)) <= {0.0, 255.0}
    keep = (mask == 255)[..., None]
    expected = np.where(keep, orig, 127.5)  # removed pixels show the baseline (0.5 grey for this model)
    assert np.abs(expl - expected).max() <= 1.0
    record = json.loads((f / "record.json").read_text())
    assert record["metrics"]["mask_area"] == pytest.approx(keep.mean(), abs=1e-6)
    assert record["config"]["steps"] == 3 and record["model"] == "efficientnet_lite0"
    assert len(record["image_id"]) == 64


def test_bad_files_are_reported_one_line_each_and_the_rest_goes_on(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 1)
    cases = bad_images(tmp_path / "in")
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--steps", "2"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(list((tmp_path / "out").iterdir())) == 1
    skipped = [line for line in err.splitlines() if line.startswith("amx-explain: skipped")]
    assert len(skipped) == len(cases)
    for reason, path in cases.items():
        assert any(path.name in line and reason in line for line in skipped), (reason, skipped)
    assert "Traceback" not in err


def test_user_errors_are_one_clear_line(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 1)
    assert main([str(tmp_path / "in"), "--class", "Entlebuch", "--out", str(tmp_path / "o")]) == 2
    assert "closest ImageNet classes: EntleBucher" in capsys.readouterr().err
    assert main([str(tmp_path / "nothing-here"), "--out", str(tmp_path / "o")]) == 1
    assert "nothing-here: missing" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no image files found" in capsys.readouterr().err
    assert main([str(tmp_path / "in"), "--batch-size", "0"]) == 2
    assert "--batch-size 0" in capsys.readouterr().err


def test_cuda_request_without_cuda_is_refused(tmp_path, tiny, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    good_images(tmp_path / "in", 1)
    assert main([str(tmp_path / "in"), "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
