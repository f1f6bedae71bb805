"""The explainer on a tiny synthetic classifier with a known answer, its determinism, the caller's model
left as it was, and (slow) the real classifier on sample photos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from amx_core.config import PRESETS, ExplainConfig, get_preset
from amx_core.errors import AmxError
from amx_core.explain import Explanation, explain
from amx_core.hooks import hook_count
from amx_core.models import Classifier, apply_mask
from tests.tiny import red_patch_classifier

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

PATCH = (slice(8, 16), slice(16, 24))  # rows, cols: 64 of 1024 pixels (6.25%), off centre


def patch_classifier() -> Classifier:
    return red_patch_classifier()


def patch_image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    grey = 0.5 + 0.25 * (torch.rand(1, SIZE, SIZE, generator=g) - 0.5)  # luminance texture, no colour
    img = grey.repeat(3, 1, 1)
    img[0][PATCH] = 1.0
    img[1][PATCH] = 0.0
    img[2][PATCH] = 0.0
    return img


def patch_mask() -> torch.Tensor:
    m = torch.zeros(1, SIZE, SIZE)
    m[0][PATCH] = 1
    return m


# small, fast settings for 32x32 inputs; robustness backgrounds that do not carry colour evidence of
# their own (a flat green background would argue for class 1 here, by construction)
FAST = ExplainConfig(steps=40, lr=0.03, width=8, mask_resolution=8, background_kinds=("noise", "blur", "shuffle"),
                     blur_sigma=2.0, robustness_samples=6, auc_steps=8,
                     occlusion_candidate=False, free_grid=False, prior="none")  # these judge the generator alone


def test_the_synthetic_classifier_needs_the_patch():
    clf = patch_classifier()
    x = patch_image()
    base = clf.baseline[0]
    with torch.no_grad():
        assert int(clf(x[None]).argmax()) == 0
        assert int(clf(apply_mask(x, patch_mask(), base)[None]).argmax()) == 0  # the patch alone suffices
        assert int(clf(apply_mask(x, 1 - patch_mask(), base)[None]).argmax()) == 1  # without it: lost
        half = patch_mask()
        half[0, 8:12] = 0
        assert int(clf(apply_mask(x, half, base)[None]).argmax()) == 1  # half the patch is not enough


@pytest.mark.parametrize("seed", [0, 1])
def test_mask_covers_the_patch_and_little_else(seed):
    clf = patch_classifier()
    x = patch_image(seed)[None]
    (ex,) = explain(clf, x, config=FAST.with_(seed=seed))
    assert isinstance(ex, Explanation)
    m, truth = ex.mask, patch_mask()
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    covered = float((m * truth).sum() / truth.sum())
    outside = float((m * (1 - truth)).sum() / (1 - truth).sum())
    assert covered >= 0.85, f"mask covers only {covered:.0%} of the patch"
    assert outside <= 0.05, f"mask keeps {outside:.0%} of the pixels outside the patch"
    assert ex.metrics["mask_area"] <= 2 * float(truth.mean())
    assert ex.metrics["label_kept"] and ex.metrics["predicted_e"] == 0
    # the reported explanation is the binary one that was evaluated
    with torch.no_grad():
        assert int(clf(ex.explanation[None]).argmax()) == ex.metrics["predicted_e"]
    assert ex.metrics["robustness"] == 1.0
    assert ex.metrics["regions"] and ex.metrics["regions"][0]["keeps_label"]


def test_same_seed_same_mask_and_batch_does_not_matter():
    clf = patch_classifier()
    xs = torch.stack([patch_image(0), patch_image(5)])
    a = explain(clf, xs, config=FAST, report=False)
    b = explain(clf, xs, config=FAST, report=False)
    for ea, eb in zip(a, b, strict=True):
        assert torch.equal(ea.mask, eb.mask)
        assert torch.equal(ea.rank_map, eb.rank_map)
    # alone or in a batch: images are explained one at a time, so exactly the same numbers
    (alone,) = explain(clf, xs[1:], config=FAST, report=False)
    assert torch.equal(alone.mask, a[1].mask) and torch.equal(alone.rank_map, a[1].rank_map)
    assert alone.metrics["classifier_passes"] == a[1].metrics["classifier_passes"]
    swapped = explain(clf, xs.flip(0), config=FAST, report=False)
    assert torch.equal(swapped[0].mask, a[1].mask) and torch.equal(swapped[1].mask, a[0].mask)


def test_metrics_keys_are_stable():
    clf = patch_classifier()
    (ex,) = explain(clf, patch_image()[None], config=FAST.with_(steps=4))
    for key in ("target", "predicted_x", "predicted_e", "label_kept", "confidence_x", "confidence_e", "mask_area",
                "steps", "classifier_passes", "seconds", "robustness", "deletion_auc", "insertion_auc", "regions",
                "report_passes"):
        assert key in ex.metrics, key
    assert ex.metrics["classifier_passes"] > ex.metrics["steps"]


def test_explicit_target_is_used():
    clf = patch_classifier()
    (ex,) = explain(clf, patch_image()[None], targets=[1], config=FAST.with_(steps=4), report=False)
    assert ex.target == 1 and ex.metrics["target"] == 1


def _state(clf: Classifier):
    return clf.training, [p.requires_grad for p in clf.parameters()], hook_count(clf)


def test_the_callers_model_comes_back_unchanged():
    clf = patch_classifier()
    clf.train()
    clf.net.fc.weight.requires_grad_(True)
    before = _state(clf)
    weights = {k: v.clone() for k, v in clf.state_dict().items()}
    explain(clf, patch_image()[None], config=FAST.with_(steps=3))
    assert _state(clf) == before == (True, [False, True, False], 0)
    for k, v in clf.state_dict().items():
        assert torch.equal(v, weights[k]), k
    assert clf.net.fc.weight.grad is None


def test_the_model_comes_back_unchanged_after_an_exception_inside():
    clf = patch_classifier()
    clf.train()
    clf.net.c1.weight.requires_grad_(True)
    before = _state(clf)
    seen = []

    def progress(done, total):
        seen.append(hook_count(clf))  # the taps are in place while it runs
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        explain(clf, patch_image()[None], config=FAST, progress=progress)
    assert seen and seen[0] > 0
    assert _state(clf) == before
    assert hook_count(clf) == 0


def test_layer_weights_must_match_the_taps():
    with pytest.raises(ValueError, match="layer weights"):
        explain(patch_classifier(), patch_image()[None], config=FAST.with_(layer_weights=(1.0, 1.0)))


def test_presets_exist_and_differ_from_compact_to_object():
    assert list(PRESETS) == ["compact", "default", "relaxed", "object"]
    assert get_preset("default") == PRESETS["default"]
    targets = [PRESETS[n].area_target for n in PRESETS]
    assert targets == sorted(targets) and len(set(targets)) == len(targets)
    assert PRESETS["compact"].area >= PRESETS["object"].area
    assert PRESETS["compact"].tv >= PRESETS["object"].tv
    with pytest.raises(AmxError, match="unknown preset"):
        get_preset("tiny")


# ---------------------------------------------------------------- the real classifier (slow)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.mark.slow
def test_real_classifier_on_two_sample_photos():
    files = sorted(p for p in SAMPLES.glob("*/*") if p.suffix.lower() in {".jpg", ".png"})[:2] if SAMPLES.is_dir() else []
    if len(files) < 2:
        pytest.skip(f"no sample photos in {SAMPLES}: run `python scripts/fetch_samples.py` (make test does)")
    from PIL import Image

    from amx_core.models import load_classifier

    clf = load_classifier("efficientnet_lite0")
    x = torch.stack([clf.preprocess(Image.open(f)) for f in files])
    before = _state(clf)
    results = explain(clf, x, config="default")
    assert _state(clf) == before
    for ex in results:
        assert ex.metrics["predicted_x"] == ex.target
        assert ex.metrics["label_kept"], ex.metrics
        assert 0 < ex.metrics["mask_area"] <= 1  # 1.0 is the ladder's fallback when nothing smaller holds
        assert ex.metrics["classifier_passes"] <= 200
        with torch.no_grad():
            assert int(clf(ex.explanation[None]).argmax()) == ex.target
    # no quality floor here: quality is measured by bench/explain_quality.py (issue 2 §6 targets unmet)


def test_occlusion_prior_needs_the_free_grid_and_finds_the_patch():
    clf = patch_classifier()
    with pytest.raises(ValueError, match="free_grid"):
        explain(clf, patch_image()[None], config=FAST.with_(prior="occlusion"), report=False)
    cfg = FAST.with_(free_grid=True, prior="occlusion", prior_grid=4, unet_lr=0.0, detach_threshold=True)
    (ex,) = explain(clf, patch_image()[None], config=cfg, report=False)
    truth = patch_mask()
    assert float((ex.mask * truth).sum() / truth.sum()) >= 0.85
    assert float((ex.mask * (1 - truth)).sum() / (1 - truth).sum()) <= 0.05
    assert ex.metrics["classifier_passes"] >= 4 * 4 + 1 + cfg.steps


def test_occlusion_candidate_wins_only_with_a_smaller_verified_mask():
    """With 0 training steps the generator's ranking is meaningless; the occlusion candidate must then
    supply a small binary mask that keeps the label, and the choice is recorded."""
    clf = patch_classifier()
    x = patch_image(0)[None]
    cfg = FAST.with_(steps=0, occlusion_candidate=True, prior_grid=8)
    (alone,) = explain(clf, x, config=cfg.with_(occlusion_candidate=False), report=False)
    (both,) = explain(clf, x, config=cfg, report=False)
    assert both.metrics["mask_area"] <= alone.metrics["mask_area"]
    assert both.metrics["label_kept"]
    if both.metrics["mask_area"] < alone.metrics["mask_area"]:
        assert both.metrics["mask_source"] == "occlusion"
    assert both.metrics["mask_area"] <= 3 * float(patch_mask().mean())
    # the occlusion grid's forward passes (and its ladder search) are counted
    assert both.metrics["classifier_passes"] - alone.metrics["classifier_passes"] >= 8 * 8 + 1


def tiny_without_cam() -> Classifier:
    """The tiny CNN tapped so that its last tap (12 channels) is not the head's input (16): no class map."""
    from dataclasses import replace

    from tests.tiny import TINY_SPEC, tiny_classifier

    return Classifier(replace(TINY_SPEC, taps=("relu1", "relu2", "relu3", "relu4", "conv4")), tiny_classifier().net)


def test_cam_prior_starts_from_the_class_map_at_no_extra_pass():
    """The class-activation map of the reference pass alone (0 steps, U-Net frozen) already ranks the
    red patch first; reading it costs no classifier pass."""
    clf = patch_classifier()
    x = patch_image(0)[None]
    cfg = FAST.with_(steps=0, free_grid=True, unet_lr=0.0)
    (plain,) = explain(clf, x, config=cfg, report=False)
    (cam,) = explain(clf, x, config=cfg.with_(prior="cam"), report=False)
    truth = patch_mask()
    assert float((cam.mask * truth).sum() / truth.sum()) >= 0.85
    assert float((cam.mask * (1 - truth)).sum() / (1 - truth).sum()) <= 0.05
    assert cam.metrics["label_kept"]
    # the occlusion prior would add prior_grid^2 + 1 passes; the ladder search alone differs by a few
    assert cam.metrics["classifier_passes"] < plain.metrics["classifier_passes"] + FAST.prior_grid**2
    with pytest.raises(ValueError, match="free_grid"):
        explain(clf, x, config=FAST.with_(prior="cam"), report=False)
    # an architecture without a class map (the last tap does not feed the head): a flat start, no error
    (flat,) = explain(tiny_without_cam(), torch.rand(1, 3, 64, 64), config=cfg.with_(prior="cam"), report=False)
    assert flat.metrics["mask_area"] > 0
    with pytest.raises(ValueError, match="unknown prior"):
        explain(clf, x, config=cfg.with_(prior="saliency"), report=False)
