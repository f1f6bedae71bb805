"""Amortised mode: the masker file round trip and its errors, honest pass counts, a shared generator that
finds a known patch on an image it was not trained on, and amx-train-masker's command line."""

from __future__ import annotations

import pytest
import torch

from amx_core.cli.train_masker import main
from amx_core.config import ExplainConfig
from amx_core.explain.amortised import (
    Masker,
    MaskerFileError,
    SharedUNet,
    _rank,
    explain_amortised,
    load_masker,
    train_masker,
)
from amx_core.explain.explainer import class_activation_map
from amx_core.hooks import hooked
from amx_core.metrics import top_mask
from amx_core.models import Classifier, apply_mask
from tests.imagefiles import good_images
from tests.tiny import red_patch_classifier, tiny_classifier

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TINY = ExplainConfig(width=8, mask_resolution=8, robustness_samples=4, auc_steps=4)


@pytest.fixture(scope="module")
def tiny_masker():
    clf = tiny_classifier()
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    return clf, train_masker(clf, x, config=TINY, epochs=2, batch_size=2)


def test_shared_unet_takes_a_batch_and_each_image_alone_gets_the_same_output():
    net = SharedUNet.seeded_shared(width=8, resolution=8, seed=0)
    x = torch.rand(3, 3, 32, 32)
    out = net(x)
    assert out.shape == (3, 1, 8, 8)
    assert torch.allclose(out[1:2], net(x[1:2]), atol=1e-6)
    copies = net.per_image_copies(3)  # MaskUNet's grouped form starts from the shared weights
    assert torch.allclose(copies(x), out, atol=1e-5)


def test_save_load_round_trip_gives_identical_masks(tiny_masker, tmp_path):
    clf, masker = tiny_masker
    masker.save(tmp_path / "m.pt")
    again = load_masker(tmp_path / "m.pt", model="tiny_cnn")
    assert again.model == "tiny_cnn" and again.config == masker.config
    assert again.image_hashes == masker.image_hashes and len(again.image_hashes) == 4
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    a = explain_amortised(clf, x, masker, report=False)
    b = explain_amortised(clf, x, again, report=False)
    for ea, eb in zip(a, b, strict=True):
        assert torch.equal(ea.mask, eb.mask) and torch.equal(ea.rank_map, eb.rank_map)
        assert ea.metrics["mask_area"] == eb.metrics["mask_area"]


@pytest.mark.parametrize("refine", [0, 2])
def test_an_image_gets_the_same_mask_alone_and_in_a_batch(tiny_masker, refine):
    clf, masker = tiny_masker
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(9))
    together = explain_amortised(clf, x, masker, refine_steps=refine, report=False)
    (alone,) = explain_amortised(clf, x[2:], masker, refine_steps=refine, report=False)
    assert torch.equal(alone.mask, together[2].mask) and torch.equal(alone.rank_map, together[2].rank_map)


def test_missing_corrupt_foreign_and_wrong_model_files_are_clear_errors(tiny_masker, tmp_path):
    _, masker = tiny_masker
    with pytest.raises(MaskerFileError, match=r"nope\.pt: missing"):
        load_masker(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00not a torch file" * 50)
    with pytest.raises(MaskerFileError, match=r"junk\.pt: unreadable or corrupt"):
        load_masker(tmp_path / "junk.pt")
    masker.save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MaskerFileError, match=r"cut\.pt: unreadable or corrupt"):
        load_masker(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(MaskerFileError, match=r"other\.pt: not a masker"):
        load_masker(tmp_path / "other.pt")
    with pytest.raises(MaskerFileError, match=r"good\.pt: trained for model 'tiny_cnn', not 'resnet18'"):
        load_masker(tmp_path / "good.pt", model="resnet18")


@pytest.mark.parametrize("refine", [0, 2])
@pytest.mark.parametrize("search", ["sequential", "binary"])
def test_classifier_passes_are_every_image_forward(tiny_masker, refine, search):
    clf, masker = tiny_masker
    seen = []
    with hooked(clf.net, pre={"": lambda _m, inp: seen.append(inp[0].shape[0])}):
        (ex,) = explain_amortised(clf, torch.rand(1, 3, 64, 64), masker, refine_steps=refine, search=search,
                                  report=False)
    assert ex.metrics["classifier_passes"] == sum(seen)
    assert ex.metrics["steps"] == refine
    # the generator pass itself costs no classifier pass: refine 0 is the reference pass plus the selection
    if refine == 0 and search == "sequential":
        assert sum(seen) <= 1 + 4 * (1 + TINY.check_backgrounds)  # 13 ladder levels: at most 4 probes


def test_metrics_have_the_per_image_explainers_keys(tiny_masker):
    from amx_core.explain import explain

    clf, masker = tiny_masker
    x = torch.rand(1, 3, 64, 64)
    (per_image,) = explain(clf, x, config=TINY.with_(steps=2))
    (amortised,) = explain_amortised(clf, x, masker)
    assert set(per_image.metrics) == set(amortised.metrics)


def test_a_masker_for_another_model_is_refused(tiny_masker):
    _, masker = tiny_masker
    other = Masker(net=masker.net, model="resnet18", config=masker.config)
    with pytest.raises(MaskerFileError, match="trained for model 'resnet18'"):
        explain_amortised(tiny_classifier(), torch.rand(1, 3, 64, 64), other)


# --- a known answer: class 0 needs most of a red patch, wherever it is --------------------------------


def red_classifier() -> Classifier:
    """The red-patch classifier: translation-invariant, so the patch can be anywhere."""
    return red_patch_classifier("redanywhere")


def red_image(row: int, col: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = (0.5 + 0.25 * (torch.rand(1, SIZE, SIZE, generator=g) - 0.5)).repeat(3, 1, 1)
    truth = torch.zeros(1, SIZE, SIZE)
    truth[0, row : row + 8, col : col + 8] = 1
    img[:, row : row + 8, col : col + 8] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    return img, truth


PATCH_CFG = ExplainConfig(lr=0.03, width=8, mask_resolution=8, background_kinds=("noise", "blur", "shuffle"),
                          blur_sigma=2.0, robustness_samples=6, auc_steps=8, occlusion_candidate=False)


def test_a_masker_trained_on_some_images_finds_the_patch_on_a_new_one():
    clf = red_classifier()
    places = [(4, 4), (4, 20), (20, 4), (20, 20), (12, 12), (2, 14)]
    train = torch.stack([red_image(r, c, seed=i)[0] for i, (r, c) in enumerate(places)])
    masker = train_masker(clf, train, config=PATCH_CFG, epochs=40, batch_size=3, augment=False,
                          area_range=(0.04, 0.3))
    for row, col, seed in [(16, 8, 100), (6, 22, 101)]:  # places and textures never seen in training
        x, truth = red_image(row, col, seed)
        with torch.no_grad():
            assert int(clf(x[None]).argmax()) == 0
            assert int(clf(apply_mask(x, 1 - truth, clf.baseline[0])[None]).argmax()) == 1
        (ex,) = explain_amortised(clf, x[None], masker)
        covered = float((ex.mask * truth).sum() / truth.sum())
        outside = float((ex.mask * (1 - truth)).sum() / (1 - truth).sum())
        assert covered >= 0.85, f"patch at {(row, col)}: mask covers only {covered:.0%} of it"
        assert outside <= 0.05, f"patch at {(row, col)}: mask keeps {outside:.0%} outside it"
        assert ex.metrics["label_kept"]
        (binary,) = explain_amortised(clf, x[None], masker, search="binary", report=False)
        assert torch.equal(binary.mask, ex.mask)  # the same probes, stopped early: the same mask
        assert ex.metrics["classifier_passes"] < binary.metrics["classifier_passes"]


def test_a_masker_distilled_from_a_teacher_ranks_as_the_teacher_chose():
    """The teacher keeps the patch's right half only (a choice the objective alone does not make: the
    classifier needs most of the patch, and ties rank left of right). Distilled, the masker ranks that half
    first on images it never saw; trained on the objective, it does not."""
    clf = red_classifier()
    places = [(4, 4), (4, 20), (20, 4), (20, 20), (12, 12), (2, 14)]
    train = torch.stack([red_image(r, c, seed=i)[0] for i, (r, c) in enumerate(places)])
    teacher = torch.zeros(len(places), 1, SIZE, SIZE)
    for i, (r, c) in enumerate(places):
        teacher[i, 0, r : r + 8, c + 4 : c + 8] = 1
    distilled = train_masker(clf, train, config=PATCH_CFG, epochs=60, batch_size=3, augment=False,
                             teacher_masks=teacher)
    assert distilled.info["teacher"] is True
    plain = train_masker(clf, train, config=PATCH_CFG, epochs=60, batch_size=3, augment=False)
    for row, col, seed in [(16, 8, 100), (8, 20, 101)]:  # on the generator's 4-pixel cells
        x, _ = red_image(row, col, seed)
        right = torch.zeros(1, SIZE, SIZE)
        right[0, row : row + 8, col + 4 : col + 8] = 1
        with torch.no_grad():
            cam = class_activation_map(clf, _reference_features(clf, x[None]), torch.tensor([0]))
            tops = [top_mask(_rank(m.net.eval(), x[None], PATCH_CFG, cam)[0], 32 / SIZE**2, stable=True)
                    for m in (distilled, plain)]
        assert float((tops[0] * right).sum()) >= 0.75 * 32, f"patch at {(row, col)}: top 32 pixels not its right half"
        assert float((tops[1] * right).sum()) <= 0.5 * 32
    with pytest.raises(ValueError, match="teacher masks"):
        train_masker(clf, train, config=PATCH_CFG, epochs=1, teacher_masks=teacher[:2])


def _reference_features(clf: Classifier, x: torch.Tensor) -> torch.Tensor:
    from amx_core.hooks import capture

    with capture(clf.net, clf.spec.taps) as acts:
        clf(x)
        return acts[clf.spec.taps[-1]].clone()


# --- amx-train-masker ---------------------------------------------------------------------------------


def test_train_masker_cli_writes_a_masker_without_the_held_out_images(tmp_path, tiny, capsys):
    from amx_core.images import file_sha256

    paths = good_images(tmp_path / "imgs", 4)
    (tmp_path / "holdout.txt").write_text(f"{paths[0]}\n{file_sha256(paths[1])}\n")
    out = tmp_path / "m" / "masker.pt"
    rc = main(["--images", str(tmp_path / "imgs"), "--model", "tiny_cnn", "--out", str(out), "--epochs", "1",
               "--holdout-list", str(tmp_path / "holdout.txt")])
    assert rc == 0, capsys.readouterr().err
    masker = load_masker(out, model="tiny_cnn")
    assert set(masker.image_hashes) == {file_sha256(p) for p in paths[2:]}
    assert "2 held out" in capsys.readouterr().err
    assert masker.info["teacher"] is False


def test_train_masker_cli_distils_a_teacher_preset(tmp_path, tiny, capsys):
    good_images(tmp_path / "imgs", 2)
    out = tmp_path / "masker.pt"
    rc = main(["--images", str(tmp_path / "imgs"), "--model", "tiny_cnn", "--out", str(out), "--epochs", "1",
               "--teacher", "default"])
    assert rc == 0, capsys.readouterr().err
    assert load_masker(out, model="tiny_cnn").info["teacher"] is True


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--holdout-list", "/no/such/list.txt"], "--holdout-list /no/such/list.txt: missing"),
    (["--preset", "tiny"], "unknown preset 'tiny'"),
    (["--teacher", "tiny"], "unknown preset 'tiny'"),
])
def test_train_masker_cli_errors_are_one_line(tmp_path, tiny, capsys, extra, message):
    good_images(tmp_path / "imgs", 1)
    rc = main(["--images", str(tmp_path / "imgs"), "--model", "tiny_cnn", "--out", str(tmp_path / "m.pt"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


def test_train_masker_cli_with_no_images(tmp_path, tiny, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["--images", str(tmp_path / "empty"), "--model", "tiny_cnn", "--out", str(tmp_path / "m.pt")]) == 2
    assert "no training images" in capsys.readouterr().err


def test_sequential_probes_choose_exactly_what_explains_binary_search_chooses():
    clf = red_classifier()
    net = SharedUNet.seeded_shared(width=8, resolution=8, seed=3)  # untrained: rankings of every quality
    masker = Masker(net=net, model="redanywhere", config=PATCH_CFG.with_(check_pass=3))
    x = torch.stack([red_image(r, c, seed=50 + r)[0] for r, c in [(0, 0), (10, 3), (24, 24), (5, 17)]])
    seq = explain_amortised(clf, x, masker, report=False)
    binary = explain_amortised(clf, x, masker, search="binary", report=False)
    for a, b in zip(seq, binary, strict=True):
        assert torch.equal(a.mask, b.mask) and a.metrics["confidence_e"] == pytest.approx(b.metrics["confidence_e"])
        assert a.metrics["classifier_passes"] <= b.metrics["classifier_passes"]


def test_the_class_activation_map_challenges_an_untrained_masker_and_wins_with_a_smaller_mask():
    """cam_candidate: the class map is searched too (one more search, counted), the smaller verified mask
    wins, its ranking is reported (the mask is its top), and the masker's own answer is kept otherwise."""
    clf = red_classifier()
    net = SharedUNet.seeded_shared(width=8, resolution=8, seed=3)
    with torch.no_grad():
        net.cam_scale.fill_(-1.0)  # a masker that learned to rank against the class map: a poor ranking
    cfg = PATCH_CFG.with_(check_backgrounds=0, area_ladder=tuple(k / 64 for k in range(1, 65)))
    x, truth = red_image(10, 3, seed=7)
    (plain,) = explain_amortised(clf, x[None], Masker(net=net, model="redanywhere", config=cfg), report=False)
    (both,) = explain_amortised(clf, x[None], Masker(net=net, model="redanywhere",
                                                     config=cfg.with_(cam_candidate=True)), report=False)
    assert both.metrics["mask_source"] == "cam" and both.metrics["label_kept"]
    assert both.metrics["mask_area"] < plain.metrics["mask_area"]
    assert float((both.mask * truth).sum() / truth.sum()) >= 0.85
    assert float((both.mask * (1 - truth)).sum() / (1 - truth).sum()) <= 0.05
    assert torch.equal(both.mask, top_mask(both.rank_map, both.metrics["mask_area"]))
    assert both.metrics["classifier_passes"] > plain.metrics["classifier_passes"]


def test_a_challengers_sequential_search_probes_only_the_levels_below_the_best_so_far():
    """`select_sequential(below=...)`: nothing under the smallest level -> no pass, the top level unread;
    below the top -> the full search itself; below a roomy area -> the same mask on a good ranking
    (the patch first) for fewer passes."""
    from amx_core.explain.selection import select_sequential

    clf = red_classifier()
    cfg = PATCH_CFG.with_(check_backgrounds=0, area_ladder=tuple(k / 256 for k in range(1, 257)))
    x, truth = red_image(10, 3, seed=7)
    x = x[None]
    good = truth[None] + 0.01 * torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0])
    with torch.no_grad():
        full_mask, full_logits, (full_passes,) = select_sequential(clf, x, good, target, cfg)
        none_mask, none_logits, (none_passes,) = select_sequential(clf, x, good, target, cfg, below=[1 / 256])
        top_mask_, _, (top_passes,) = select_sequential(clf, x, good, target, cfg, below=[1.0])
        under, under_logits, (under_passes,) = select_sequential(clf, x, good, target, cfg, below=[0.1])
    assert none_passes == 0 and none_logits is None and float(none_mask.mean()) == 1.0
    assert torch.equal(top_mask_, full_mask) and top_passes == full_passes
    area = float(full_mask.mean())
    assert 0.7 * float(truth.mean()) <= area <= float(truth.mean()) + 1e-6  # most of the patch, nothing else
    assert torch.equal(under, full_mask) and torch.allclose(under_logits, full_logits)
    assert under_passes < full_passes


class _FlickerNet(torch.nn.Module):
    """16x16 inputs (normalised: grey is 0, a channel at 1 is 1): class 0's logit is the red pixels' count
    minus the green pixels' plus a tenth of the blue ones', class 1's is 10.05. An image of 16 red, 20 green and
    220 blue pixels is class 0 (18 > 10.05); on the ranking red, then green, then blue, its top L pixels keep
    class 0 for L = 11..21 and L >= 177 only: the label flickers along the ladder."""

    def forward(self, x):
        z = x[:, 0].sum((1, 2)) - x[:, 1].sum((1, 2)) + 0.1 * x[:, 2].sum((1, 2))
        return torch.stack([z, torch.full_like(z, 10.05)], 1)


def test_a_galloping_search_finds_the_small_level_a_bisection_steps_over():
    """`select_sequential(gallop=True)` climbs from the smallest level in doubling strides (L = 1, 3, 7, 15:
    kept) and bisects below: L = 11, the smallest that holds. The bisection starts mid-ladder (L = 128:
    lost) and climbs to L = 177. Passes are counted either way."""
    from dataclasses import replace

    from amx_core.explain.selection import select_sequential
    from tests.tiny import TINY_SPEC

    clf = Classifier(replace(TINY_SPEC, name="flicker", resize=16, crop=16), _FlickerNet())
    x = torch.full((1, 3, 16, 16), 0.5)
    order = torch.arange(256)
    red, green, blue = order[:16], order[16:36], order[36:]
    for ch, idx in ((0, red), (1, green), (2, blue)):
        x[0, ch].view(-1)[idx] = 1.0
    rank = (256 - order).float().view(1, 1, 16, 16)  # red first, then green, then blue
    cfg = ExplainConfig(check_backgrounds=0, area_ladder=tuple(k / 256 for k in range(1, 257)))
    target = torch.tensor([0])
    with torch.no_grad():
        logits_x = clf(x)
        assert int(logits_x.argmax()) == 0
        bisected, _, (b_passes,) = select_sequential(clf, x, rank, target, cfg, logits_x)
        galloped, g_logits, (g_passes,) = select_sequential(clf, x, rank, target, cfg, logits_x, gallop=True)
    assert int(bisected.sum()) == 177
    assert int(galloped.sum()) == 11 and torch.equal(galloped[0, 0].view(-1)[:11], torch.ones(11))
    assert float(g_logits[0, 0]) == pytest.approx(11.0)  # the chosen mask's logits, read by its probe
    # climb: L = 1, 3, 7, 15 (4 passes); bisect L = 8..15: 11 (kept), 9, 10 (lost): 3 more
    assert g_passes == 7
    assert b_passes == 8  # log2(256)


def test_the_blend_of_class_map_and_grad_cam_challenges_last_and_wins_only_smaller():
    """gradcam_candidate in the amortised mode: after masker and class map, the blend of the class map with
    Grad-CAM at the finer tap (one pass to compute, counted) is searched below the best mask; it never
    makes a mask larger, and where it wins its ranking is reported (the mask is its top). (On these patch
    photos the masker or the class map already finds the smallest sufficient mask, so it never wins here;
    `explain`'s blend tests cover a blend that wins.)"""
    clf = red_classifier()
    net = SharedUNet.seeded_shared(width=8, resolution=8, seed=3)
    cfg = PATCH_CFG.with_(check_backgrounds=0, cam_candidate=True, area_ladder=tuple(k / 64 for k in range(1, 65)))
    for r, c in [(0, 0), (10, 3), (24, 24), (5, 17)]:
        x, _ = red_image(r, c, seed=60 + r)
        (plain,) = explain_amortised(clf, x[None], Masker(net=net, model="redanywhere", config=cfg), report=False)
        (both,) = explain_amortised(clf, x[None], Masker(net=net, model="redanywhere",
                                                         config=cfg.with_(gradcam_candidate=True)), report=False)
        assert both.metrics["classifier_passes"] >= plain.metrics["classifier_passes"] + 1
        assert both.metrics["mask_area"] <= plain.metrics["mask_area"] and both.metrics["label_kept"]
        if both.metrics["mask_source"] == "blend:cam+gradcam":
            assert both.metrics["mask_area"] < plain.metrics["mask_area"]
            assert torch.equal(both.mask, top_mask(both.rank_map, both.metrics["mask_area"]))
        else:
            assert torch.equal(both.mask, plain.mask)
