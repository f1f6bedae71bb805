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
    (ex,) = explain(clf, x, config=FAST.with_(seed=seed, per_seed=True))
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


def test_layer_weights_adapt_to_the_taps():
    """Presets are written for five taps; a config with another count is read off for the model's taps
    (issue 17), where it used to be refused."""
    [ex] = explain(patch_classifier(), patch_image()[None], config=FAST.with_(layer_weights=(1.0, 1.0)))
    assert ex.mask.shape[-2:] == patch_image().shape[-2:]


def test_presets_exist_and_differ_from_compact_to_object():
    assert list(PRESETS) == ["compact", "default", "robust", "relaxed", "object"]
    assert get_preset("default") == PRESETS["default"]
    # issue 14: the default and compact presets choose the smallest mask that keeps the label on the
    # baseline (no random-background gate, an ascending scan of a fine ladder); robust keeps the gate
    for name in ("compact", "default"):
        p = PRESETS[name]
        assert (p.check_backgrounds, p.selection, p.per_seed) == (0, "scan", False)
        assert [a for a in p.area_ladder if a <= 0.1] == pytest.approx([0.005 * k for k in range(1, 21)])
        # verified candidates (generator, occlusion, class map; compact: the generator from 4 starts) share
        # a budget of classifier passes with their blends: 200 for the default, 1000 for compact
        assert (p.occlusion_candidate, p.cam_candidate, p.gradcam_candidate) == (True, True, True)
        assert 1 + p.restarts * 2 * p.steps + p.prior_grid**2 < p.max_passes  # leaves room to scan
    assert (PRESETS["default"].restarts, PRESETS["default"].blends, PRESETS["default"].max_passes) == (1, 2, 200)
    assert (PRESETS["compact"].restarts, PRESETS["compact"].blends, PRESETS["compact"].max_passes) == (4, 3, 1000)
    assert PRESETS["compact"].with_(restarts=1, blends=2, max_passes=200) == PRESETS["default"]
    assert PRESETS["robust"].check_backgrounds == 4 and PRESETS["robust"].selection == "bisect"
    targets = [PRESETS[n].area_target for n in ("default", "relaxed", "object")]
    assert targets == sorted(targets) and len(set(targets)) == len(targets)
    assert PRESETS["default"].area >= PRESETS["object"].area
    assert PRESETS["default"].tv >= PRESETS["object"].tv
    with pytest.raises(AmxError, match="unknown preset"):
        get_preset("tiny")


# ---------------------------------------------------------------- seeds (issue 22)

MINIMAL_FAST = FAST.with_(check_backgrounds=0, selection="scan", zero_out=True, free_grid=True, prior="cam")


def test_the_seed_does_not_move_an_explanation_unless_per_seed():
    """Every draw that decides an explanation uses the canonical seed: seeds 0, 1, 2 give the same mask,
    ranking and metrics. The per-seed variant (per_seed=True) draws from the seed, and on the patch
    classifier (one right answer) its masks still agree: pairwise IoU >= 0.8 (measured 0.87)."""
    from amx_bench.stability import seed_stability

    clf = patch_classifier()
    x = patch_image(0)[None]
    runs = [explain(clf, x, config=MINIMAL_FAST.with_(seed=s))[0] for s in (0, 1, 2)]
    for ex in runs[1:]:
        assert torch.equal(ex.mask, runs[0].mask) and torch.equal(ex.rank_map, runs[0].rank_map)
        assert ex.metrics["robustness"] == runs[0].metrics["robustness"]
    per_seed = [explain(clf, x, config=MINIMAL_FAST.with_(seed=s, per_seed=True), report=False)[0] for s in (0, 1, 2)]
    assert not torch.equal(per_seed[1].rank_map, per_seed[0].rank_map)  # the seed does draw here
    st = seed_stability([e.mask for e in per_seed], [e.rank_map for e in per_seed])
    assert st["mask_iou"] >= 0.8, st
    assert all(e.metrics["label_kept"] for e in per_seed)


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
    # batch independence on the real model: the second photo alone gets exactly the mask it got in the pair
    (alone,) = explain(clf, x[1:], config="default", report=False)
    assert torch.equal(alone.mask, results[1].mask) and torch.equal(alone.rank_map, results[1].rank_map)
    # no quality floor here: quality is measured by bench/explain_quality.py


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
    assert both.metrics["classifier_passes"] - alone.metrics["classifier_passes"] >= 8 * 8


def test_cam_candidate_wins_with_a_smaller_verified_mask_and_reports_its_ranking():
    """0 steps from a flat start: the generator's ranking is an untrained U-Net's, the class-activation map
    ranks the red patch first. The CAM's verified mask wins, costs no pass to compute, and the reported
    ranking is the CAM's: the mask is exactly its top pixels."""
    from amx_core.metrics import top_mask

    clf = patch_classifier()
    x = patch_image(0)[None]
    cfg = FAST.with_(steps=0, selection="scan", check_backgrounds=0, area_ladder=tuple(k / 64 for k in range(1, 65)))
    (alone,) = explain(clf, x, config=cfg, report=False)
    (both,) = explain(clf, x, config=cfg.with_(cam_candidate=True), report=False)
    truth = patch_mask()
    assert both.metrics["mask_source"] == "cam" and both.metrics["label_kept"]
    assert both.metrics["mask_area"] < alone.metrics["mask_area"]
    assert float((both.mask * truth).sum() / truth.sum()) >= 0.85
    assert float((both.mask * (1 - truth)).sum() / (1 - truth).sum()) <= 0.05
    assert torch.equal(both.mask, top_mask(both.rank_map, both.metrics["mask_area"], stable=True))
    # the CAM's scan probes only levels below the generator's mask: at most that many more passes
    below = round(alone.metrics["mask_area"] * 64) - 1
    assert 0 < both.metrics["classifier_passes"] - alone.metrics["classifier_passes"] <= below


def test_the_pass_budget_caps_every_ladder_search():
    """`max_passes` stops the candidates' scans (smallest levels first) where an image's classifier passes
    would exceed it; a budget that covers everything changes nothing."""
    clf = patch_classifier()
    x = patch_image(0)[None]
    cfg = FAST.with_(steps=5, selection="scan", check_backgrounds=0, scan_chunk=3, cam_candidate=True,
                     occlusion_candidate=True, prior_grid=4, area_ladder=tuple(k / 64 for k in range(1, 65)))
    (free,) = explain(clf, x, config=cfg, report=False)
    (roomy,) = explain(clf, x, config=cfg.with_(max_passes=10_000), report=False)
    assert torch.equal(free.mask, roomy.mask) and free.metrics["classifier_passes"] == roomy.metrics["classifier_passes"]
    spent = 1 + 2 * cfg.steps  # the reference pass, then each step's masked and random-background passes
    for budget in (spent + 5, spent + 16 + 8, free.metrics["classifier_passes"] - 1):
        (capped,) = explain(clf, x, config=cfg.with_(max_passes=budget), report=False)
        assert capped.metrics["classifier_passes"] <= budget, budget
        assert capped.metrics["mask_area"] >= free.metrics["mask_area"]
    (tight,) = explain(clf, x, config=cfg.with_(max_passes=spent + 5), report=False)
    assert tight.metrics["mask_source"] == "generator"  # no room for the occlusion grid's 16 passes


def test_a_restart_of_the_generator_is_one_more_candidate_and_its_training_is_counted():
    """restarts=2: a second generator from another start challenges the first; it wins only with a smaller
    verified mask, its 2 x steps training passes are counted, and the first generator's result is the same."""
    clf = patch_classifier()
    x = patch_image(0)[None]
    cfg = FAST.with_(steps=6, selection="scan", check_backgrounds=0, area_ladder=tuple(k / 64 for k in range(1, 65)))
    (one,) = explain(clf, x, config=cfg, report=False)
    (two,) = explain(clf, x, config=cfg.with_(restarts=2), report=False)
    assert two.metrics["mask_area"] <= one.metrics["mask_area"]
    assert two.metrics["classifier_passes"] >= one.metrics["classifier_passes"] + 2 * cfg.steps
    if two.metrics["mask_source"] == "generator":
        assert torch.equal(two.mask, one.mask) and torch.equal(two.rank_map, one.rank_map)
    else:
        assert two.metrics["mask_source"] == "generator-2"
        assert two.metrics["mask_area"] < one.metrics["mask_area"] and two.metrics["label_kept"]
    # a budget with no room for the second training leaves the first generator's answer
    (capped,) = explain(clf, x, config=cfg.with_(restarts=2, max_passes=one.metrics["classifier_passes"] + 5),
                        report=False)
    assert capped.metrics["mask_source"] == "generator" and torch.equal(capped.mask, one.mask)


def test_a_blend_ranks_first_the_pixels_its_rankings_agree_on():
    """Percentiles, not scores: a ranking with huge values weighs no more than one with small values."""
    from amx_core.explain.explainer import blend

    a = torch.tensor([1000.0, 999.0, 0.0, -5.0]).view(1, 1, 2, 2)  # order 0 1 2 3
    b = torch.tensor([0.2, 0.3, 0.4, 0.1]).view(1, 1, 2, 2)  # order 2 1 0 3
    mixed = blend([a, b]).flatten()
    # percentiles (1, .75, .5, .25): pixel 0 -> (1 + .5)/2, 1 -> .75, 2 -> (.5 + 1)/2, 3 -> .25
    assert torch.allclose(mixed, torch.tensor([0.75, 0.75, 0.75, 0.25]))
    assert torch.equal(blend([a, a]).flatten().argsort(descending=True)[:1], torch.tensor([0]))


def test_a_blend_needs_less_than_either_ranking_where_they_agree_only_on_the_patch():
    """Two rankings that each put a different decoy above the patch: either alone needs decoy + patch to
    keep the label; their blend ranks the patch first and needs about the patch alone."""
    from amx_core.explain.explainer import blend
    from amx_core.explain.selection import select_masks

    clf = patch_classifier()
    x = patch_image(0)[None]
    noise = 0.1 * torch.rand(2, 1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    first, second = noise[0].clone(), noise[1].clone()
    for r, decoy in ((first, (slice(20, 28), slice(0, 8))), (second, (slice(0, 8), slice(0, 8)))):
        r[0, 0][PATCH] += 2.0
        r[0, 0][decoy] += 3.0
    cfg = FAST.with_(selection="scan", check_backgrounds=0, area_ladder=tuple(k / 256 for k in range(1, 257)))
    target = torch.tensor([0])
    with torch.no_grad():
        areas = [float(select_masks(clf, x, r, target, cfg)[0].mean()) for r in (first, second, blend([first, second]))]
    patch = float(patch_mask().mean())
    assert areas[0] > patch and areas[1] > patch  # each keeps its decoy before the patch
    assert areas[2] <= patch + 1 / 256  # the blend: the patch first (one ladder step of slack for its edge)
    assert areas[2] < 0.6 * min(areas[:2])


def test_blends_of_the_candidates_win_only_with_a_smaller_verified_mask():
    """`blends` scans blends of the rankings already computed, below the best mask so far: the mask
    never grows, a blend's win is verified and reported with its ranking, and its scans are counted."""
    from amx_core.metrics import top_mask

    clf = patch_classifier()
    ladder = tuple(k / 64 for k in range(1, 65))
    for seed in range(3):
        x = patch_image(seed)[None]
        cfg = FAST.with_(steps=3, selection="scan", check_backgrounds=0, area_ladder=ladder, cam_candidate=True,
                         occlusion_candidate=True, prior_grid=4, restarts=2)
        (plain,) = explain(clf, x, config=cfg, report=False)
        (blended,) = explain(clf, x, config=cfg.with_(blends=3), report=False)
        assert blended.metrics["mask_area"] <= plain.metrics["mask_area"]
        assert blended.metrics["classifier_passes"] >= plain.metrics["classifier_passes"]
        if blended.metrics["mask_source"].startswith("blend:"):
            assert blended.metrics["label_kept"] and blended.metrics["mask_area"] < plain.metrics["mask_area"]
            assert torch.equal(blended.mask, top_mask(blended.rank_map, blended.metrics["mask_area"], stable=True))
        else:
            assert torch.equal(blended.mask, plain.mask)
            assert blended.metrics["mask_source"] == plain.metrics["mask_source"]


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
    # the occlusion prior would add prior_grid^2 passes; the ladder search alone differs by a few
    assert cam.metrics["classifier_passes"] < plain.metrics["classifier_passes"] + FAST.prior_grid**2
    with pytest.raises(ValueError, match="free_grid"):
        explain(clf, x, config=FAST.with_(prior="cam"), report=False)
    # an architecture without a class map (the last tap does not feed the head): a flat start, no error
    (flat,) = explain(tiny_without_cam(), torch.rand(1, 3, 64, 64), config=cfg.with_(prior="cam"), report=False)
    assert flat.metrics["mask_area"] > 0
    with pytest.raises(ValueError, match="unknown prior"):
        explain(clf, x, config=cfg.with_(prior="saliency"), report=False)


# ------------------------------------------- a target the model does not rank first (issue 21)


def second_rank_classifier() -> Classifier:
    """The red-patch network with three classes read off the same evidence: class 0 = 320 x red (10 with the
    whole patch), class 1 = 288 x red (9), class 2 a bias of 5. Class 1 is 2nd on the photo
    (p = e^9 / (e^10 + e^9 + e^5) = 0.2676) and no mask makes it the top-1 (it reads the same pixels as
    class 0, more weakly); with a fraction f of the patch kept, its probability 1 / (e^f + 1 + e^(5 - 9f))
    is at least 0.2676 and its rank 2nd for f between about 0.55 and 1: the evidence for class 1 is
    kept by about 55-100% of the patch and nothing else."""
    from torch import nn

    clf = patch_classifier()
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[320.0, 0.0], [288.0, 0.0], [0.0, 0.0]]))
        fc.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    clf.net.fc = fc
    return clf


def test_evidence_criterion_by_value():
    from amx_core.explain.explanation import evidence_kept, target_rank, target_status

    x = torch.tensor([[10.0, 9.0, 5.0]])
    t1 = torch.tensor([1])
    assert target_rank(x, t1).tolist() == [2] and target_rank(x, torch.tensor([0])).tolist() == [1]
    cases = torch.tensor([
        [10.0, 9.0, 5.0],  # e = x: kept
        [9.0, 8.1, 5.0],  # rank 2, p = 0.285 >= 0.268: kept
        [5.0, 4.5, 5.0],  # p = 0.233: lost (and rank 3)
        [9.0, 9.5, 5.0],  # now the top-1: kept (rank better, probability higher)
        [0.0, 6.0, 7.0],  # p higher but still rank 2: kept
        [8.0, 3.0, 5.0],  # rank 3: lost
    ])
    assert evidence_kept(cases, t1.expand(6), x).tolist() == [True, True, False, True, True, False]
    # where the target is the original's top-1 the criterion is "still the top-1", whatever its probability
    top = torch.tensor([0])
    assert evidence_kept(torch.tensor([[3.0, 2.9, 0.0], [2.9, 3.0, 0.0]]), top.expand(2), x).tolist() == [True, False]
    assert target_status(2, 0.27, True) == "kept" and target_status(2, 0.27, False) == "not kept"
    assert target_status(6, 0.2, True) == target_status(3, 0.005, True) == "not recognised"


def test_label_loss_is_the_criterion_for_a_second_ranked_target():
    from amx_core.explain.objective import cross_entropy, label_loss

    x = torch.tensor([[10.0, 9.0, 5.0]])
    assert torch.equal(label_loss(x, torch.tensor([0]), x), cross_entropy(x, torch.tensor([0])))  # top-1: CE
    # 2nd-ranked target: zero once rank and probability hold with the 0.1 margin, positive otherwise
    assert float(label_loss(torch.tensor([[7.2, 8.0, 5.0]]), torch.tensor([1]), x)) == 0.0
    lost = float(label_loss(torch.tensor([[5.0, 4.5, 5.0]]), torch.tensor([1]), x))
    # log p_x - log p_e + 0.1 = 0.1 + log(0.2676 / 0.2327), plus the rank hinge 5 - 4.5 + 0.1
    assert lost == pytest.approx(0.1 + 0.13977 + 0.6, abs=1e-3)


def test_a_second_ranked_class_is_explained_by_its_evidence():
    """Class 1 is ranked 2nd and can never be the top-1: the mask keeps its rank and probability with
    part of the patch (the old rule, "class 1 is the top-1", held for no mask and gave the whole image)."""
    clf = second_rank_classifier()
    x = patch_image(0)[None]
    with torch.no_grad():
        assert torch.softmax(clf(x), 1)[0].tolist() == pytest.approx([0.7275, 0.2676, 0.0049], abs=1e-4)
    cfg = FAST.with_(check_backgrounds=0)
    (ex,) = explain(clf, x, targets=[1], config=cfg)
    m = ex.metrics
    assert (m["criterion"], m["rank_x"], m["rank_e"], m["status"], m["label_kept"]) == (
        "rank_and_probability", 2, 2, "kept", True)
    assert m["confidence_x"] == pytest.approx(0.2676, abs=1e-4) and m["confidence_e"] >= m["confidence_x"]
    assert m["predicted_x"] == m["predicted_e"] == 0
    truth = patch_mask()
    covered = float((ex.mask * truth).sum() / truth.sum())
    assert 0.5 <= covered <= 1.0, covered
    assert float((ex.mask * (1 - truth)).sum() / (1 - truth).sum()) <= 0.02
    assert m["mask_area"] <= float(truth.mean())
    assert m["regions"] and m["regions"][0]["keeps_label"]
    # class 2 (a bias, p = 0.005 < 1%, 3rd): explained, but "not recognised"
    (bias,) = explain(clf, x, targets=[2], config=cfg.with_(steps=4), report=False)
    assert bias.metrics["rank_x"] == 3 and bias.metrics["status"] == "not recognised"
    # class 0, the top-1: the criterion stays "the top-1"
    (top,) = explain(clf, x, targets=[0], config=cfg.with_(steps=4), report=False)
    assert top.metrics["criterion"] == "top1" and top.metrics["rank_x"] == 1


class _TwoScaleLinear(torch.nn.Module):
    """A 1x1 conv (tap "a", 4x4), a 2x2 average pool (tap "b", 2x2), the global mean, a linear head: every
    path is linear, so the target logit's gradient at "a" is fc.weight[target] / 16 at every position."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Conv2d(3, 5, 1)
        self.b = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.b(self.a(x)).mean((2, 3)))


def test_grad_cam_at_the_finer_tap_weighs_each_channel_by_its_mean_gradient():
    from dataclasses import replace

    from amx_core.explain.explainer import _standardised, finer_tap, grad_cam
    from amx_core.hooks import capture, frozen
    from tests.tiny import TINY_SPEC

    clf = Classifier(replace(TINY_SPEC, name="two_scale", taps=("a", "b"), resize=4, crop=4), _TwoScaleLinear())
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([2])
    with frozen(clf), capture(clf.net, clf.spec.taps) as acts:
        with torch.no_grad():
            clf(x)
            ref = {t: acts[t].clone() for t in clf.spec.taps}
        assert finer_tap(clf, ref) == "a"
        got = grad_cam(clf, x, target, acts, "a")
    # by hand: relu(sum_c w[target, c] / 16 * A_c), standardised (the 1/16 cancels)
    by_hand = _standardised(torch.relu(torch.einsum("bchw,c->bhw", ref["a"], clf.net.fc.weight[2])[:, None]))
    assert got.shape == (1, 1, 4, 4)
    assert torch.allclose(got, by_hand, atol=1e-3)  # (the standardisation's epsilon, scaled by 16)
    # no tap finer than the last: no Grad-CAM candidate
    assert finer_tap(Classifier(replace(clf.spec, taps=("b",)), clf.net), {"b": ref["b"]}) is None
    assert finer_tap(clf, {"a": ref["a"], "b": ref["b"][:, :, 0, 0]}) is None  # the last tap has no map

