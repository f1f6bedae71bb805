"""amx-explain end to end on a small classifier: outputs are exact and re-checkable, bad files are one line each."""

import json

import numpy as np
import pytest
from PIL import Image

from amx_core.cli.explain import main
from tests.imagefiles import bad_images, good_images


def test_outputs_are_the_classifiers_input_and_a_white_kept_mask(tmp_path, tiny, capsys):
    good_images(tmp_path / "in", 2)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--steps", "3", "--batch-size", "2"])
    assert rc == 0
    folders = sorted((tmp_path / "out").iterdir())
    assert len(folders) == 2 and all(not f.name.endswith(".partial") for f in folders)
    f = folders[0]
    assert {p.name for p in f.iterdir()} == {"original.png", "mask.png", "explanation.png", "figure.png",
                                             "record.json", "arrays.npz"}
    orig = np.asarray(Image.open(f / "original.png"), dtype=np.float64)
    mask = np.asarray(Image.open(f / "mask.png"), dtype=np.float64)
    expl = np.asarray(Image.open(f / "explanation.png"), dtype=np.float64)
    assert orig.shape == (64, 64, 3) and mask.shape == (64, 64)
    assert set(np.unique(mask)) <= {0.0, 255.0}
    keep = (mask == 255)[..., None]
    expected = np.where(keep, orig, 127.5)  # removed pixels show the baseline (0.5 grey for this model)
    assert np.abs(expl - expected).max() <= 1.0
    arrays = np.load(f / "arrays.npz")  # the mask as uint8 and the soft ranking as float16 (issue 17)
    assert arrays["mask"].dtype == np.uint8 and np.array_equal(arrays["mask"] * 255, mask)
    assert arrays["ranking"].dtype == np.float16 and arrays["ranking"].shape == (64, 64)
    record = json.loads((f / "record.json").read_text())
    assert record["metrics"]["mask_area"] == pytest.approx(keep.mean(), abs=1e-6)
    assert record["config"]["steps"] == 3 and record["model"] == "efficientnet_lite0"
    assert len(record["image_id"]) == 64
    assert {"seed", "preset", "batch_size", "threads", "torch", "device"} <= set(record["metrics"]["run"])


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


@pytest.fixture
def masker_file(tmp_path, tiny):
    import torch

    from amx_core.config import ExplainConfig
    from amx_core.explain import train_masker

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    masker = train_masker(tiny, x, config=ExplainConfig(width=8, mask_resolution=8), epochs=1, batch_size=2)
    masker.save(tmp_path / "masker.pt")
    return tmp_path / "masker.pt"


def test_masker_explains_with_the_amortised_path(tmp_path, masker_file, capsys):
    good_images(tmp_path / "in", 2)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", "tiny_cnn",
               "--masker", str(masker_file), "--refine-steps", "1"])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads((f / "record.json").read_text()) for f in sorted((tmp_path / "out").iterdir())]
    assert len(records) == 2
    for r in records:
        assert r["metrics"]["mask_source"] == "amortised+refine1" and r["metrics"]["steps"] == 1
        assert r["masker"] == {"file": str(masker_file), "refine_steps": 1, "trained_on_this_image": False}
        assert r["preset"] is None  # the masker file carries the config; no preset was used


def test_masker_errors_are_one_clear_line(tmp_path, masker_file, capsys):
    good_images(tmp_path / "in", 1)
    (tmp_path / "junk.pt").write_bytes(b"garbage" * 10)
    cases = [
        (["--masker", str(tmp_path / "none.pt"), "--model", "tiny_cnn"], "none.pt: missing"),
        (["--masker", str(tmp_path / "junk.pt"), "--model", "tiny_cnn"], "junk.pt: unreadable or corrupt"),
        (["--masker", str(masker_file)], "trained for model 'tiny_cnn', not 'efficientnet_lite0'"),
        (["--masker", str(masker_file), "--model", "tiny_cnn", "--refine-steps", "-1"], "--refine-steps -1"),
        (["--refine-steps", "2"], "--refine-steps needs --masker FILE"),
        (["--masker", str(masker_file), "--model", "tiny_cnn", "--preset", "compact"], "drop --preset and --steps"),
        (["--masker", str(masker_file), "--model", "tiny_cnn", "--steps", "5"], "drop --preset and --steps"),
    ]
    for extra, message in cases:
        assert main([str(tmp_path / "in"), "--out", str(tmp_path / "o"), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
