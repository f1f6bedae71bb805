"""Issue 17: a user's own model (a factory in a .py file, 3 stages, 10 classes) with its own weights and
labels through amx-explain and amx-ingest; automatic taps and head; presets adapted to the number of taps;
timm models; wrap_model leaving the user's module as it was; labels files; one-line weight mismatches."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from amx_core.errors import AmxError, UnknownClassError, WeightsUnavailableError
from tests.imagefiles import good_images

pytestmark = pytest.mark.usefixtures("one_thread")

README = Path(__file__).resolve().parents[1] / "README.md"

TOY = '''
from torch import nn


class Toy(nn.Module):
    """Three stages (conv, batch norm, ReLU; the last two halve the size), a pooled Linear head."""

    def __init__(self, classes=10):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU())
        self.stage3 = nn.Sequential(nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.pool(self.stage3(self.stage2(self.stage1(x)))).flatten(1))


def build():
    return Toy()


def build_12():
    return Toy(12)


def not_a_model():
    return 42
'''

LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def toy(tmp_path):
    """The factory file, its seeded weights and a labels file; returns (model spec string, weights, labels)."""
    src = tmp_path / "toy_model.py"
    src.write_text(TOY)
    namespace: dict = {}
    exec(compile(TOY, str(src), "exec"), namespace)
    torch.manual_seed(0)
    net = namespace["build"]()
    weights = tmp_path / "toy.pt"
    torch.save(net.state_dict(), weights)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    return f"{src}:build", weights, labels, namespace


def _load(toy, **kw):
    from amx_core.models import load_classifier

    model, weights, labels, _ = toy
    kw = {"weights": str(weights), "labels": str(labels), "input_size": 32, **kw}
    return load_classifier(model, **kw)


# ---------------------------------------------------------------- taps, head, labels, presets


def test_factory_model_gets_its_three_stage_taps_head_and_labels(toy):
    clf = _load(toy)
    assert clf.spec.taps == ("stage1", "stage2", "stage3")
    assert clf.spec.head == "fc"
    assert clf.num_classes == 10 and clf.classes == LABELS
    assert clf.resolve_class("Cat") == 3 and clf.resolve_class("9") == 9
    assert (clf.spec.crop, clf.spec.resize) == (32, 37)  # resize defaults to input-size / 0.875
    with pytest.raises(UnknownClassError, match="closest classes: cat"):
        clf.resolve_class("catt")
    # the weights file is what the classifier runs with
    _, weights, _, _ = toy
    state = torch.load(weights)
    assert torch.equal(clf.net.state_dict()["stage2.0.weight"], state["stage2.0.weight"])


def test_taps_override_and_bad_taps_are_one_line(toy):
    clf = _load(toy, taps="stage1.2,stage3", head="fc")
    assert clf.spec.taps == ("stage1.2", "stage3")
    for taps, message in [("stage9", "no module named 'stage9'"), ("stage3,stage1", "in the order"),
                          ("fc", "not a [B,C,H,W] map"), ("stage1,stage1", "named twice")]:
        with pytest.raises(AmxError, match=re.escape(message)):
            _load(toy, taps=taps)
    with pytest.raises(AmxError, match="--head: .* no module named 'nope'"):
        _load(toy, head="nope")


def test_deep_nets_get_five_evenly_spread_taps_and_known_layouts_are_found():
    import torchvision

    from amx_core.models import SPECS
    from amx_core.taps import find_head, find_taps, spread

    layers = []
    for i in range(7):  # seven stages, each halving the size
        layers += [nn.Conv2d(3 if i == 0 else 4, 4, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    assert find_taps(net, 128) == ("1", "5", "7", "9", "13")  # stages 0, 2, 3, 4, 6 of 0..6
    assert spread(list("abcdefg")) == tuple("acdeg") and spread(list("abc")) == tuple("abc")
    assert find_head(net, input_size=128) == "16"
    # the hand-written layouts of the built-in torchvision models are what the search finds
    assert find_taps(torchvision.models.resnet18(), 224) == SPECS["resnet18"].taps
    assert find_taps(torchvision.models.vgg16(), 224) == SPECS["vgg16"].taps


def test_a_net_with_functional_activations_only_asks_for_taps():
    from amx_core.models import wrap_model

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    with pytest.raises(AmxError, match="--taps a,b,c"):
        wrap_model(Functional(), input_size=16)
    assert wrap_model(Functional(), taps=["conv"], input_size=16).spec.taps == ("conv",)


def test_every_preset_adapts_to_three_taps_and_explains_the_toy(toy):
    from amx_core.config import PRESETS, ExplainConfig, for_taps
    from amx_core.explain import explain

    for name, cfg in PRESETS.items():
        w = for_taps(cfg, 3).layer_weights
        assert len(w) == 3 and (w[0], w[-1]) == (cfg.layer_weights[0], cfg.layer_weights[-1]), name
        if len(set(cfg.layer_weights)) == 1:
            assert set(w) == set(cfg.layer_weights), name
    assert for_taps(ExplainConfig(layer_weights=(1.0, 2.0, 3.0, 4.0, 5.0)), 3).layer_weights == (1.0, 3.0, 5.0)
    assert for_taps(ExplainConfig(layer_weights=(2.0, 4.0)), 3).layer_weights == (2.0, 3.0, 4.0)
    clf = _load(toy)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    [ex] = explain(clf, x, config=PRESETS["default"].with_(steps=2, robustness_samples=2, auc_steps=4))
    assert ex.mask.shape[-2:] == (32, 32) and 0 < ex.metrics["mask_area"] <= 1


def test_labels_files_lines_or_json_and_their_errors(tmp_path, toy):
    from amx_core.labels import class_names, read_labels

    (tmp_path / "a.txt").write_text("\ufeffcat\n dog \n\n\n")
    assert read_labels(tmp_path / "a.txt") == ["cat", "dog"]
    (tmp_path / "b.json").write_text(json.dumps(["cat", "dog"]))
    assert read_labels(tmp_path / "b.json") == ["cat", "dog"]
    for text, message in [("cat\n\ndog\n", "class 1 has an empty name"), ("cat\nCat\n", "given twice"),
                          ("[1, 2]", "must hold strings"), ("[cat", "not one"), ("", "no class names")]:
        (tmp_path / "bad.txt").write_text(text)
        with pytest.raises(AmxError, match=re.escape(message)):
            read_labels(tmp_path / "bad.txt")
    with pytest.raises(AmxError, match="does not exist"):
        read_labels(tmp_path / "none.txt")
    with pytest.raises(AmxError, match=r"labels file .*a\.txt has 2 class names, the head of .* has 10 outputs"):
        _load(toy, labels=str(tmp_path / "a.txt"))
    assert class_names(3, ["x", "y", "z"]) == ["x", "y", "z"]


def test_a_head_of_another_size_without_labels_is_class_i_with_a_warning(toy, caplog):
    with caplog.at_level(logging.WARNING, logger="amx_core"):
        clf = _load(toy, labels=None)
        names = clf.classes
    assert names == [f"class {i}" for i in range(10)]
    assert any("10-way head and no labels" in r.getMessage() for r in caplog.records)
    assert clf.resolve_class("class 4") == 4 and clf.resolve_class("4") == 4


def test_weights_that_do_not_fit_are_one_line_naming_file_and_mismatch(toy, tmp_path):
    _, _, _, ns = toy
    tuned = tmp_path / "tuned-12.pt"
    torch.save(ns["build_12"]().state_dict(), tuned)
    with pytest.raises(WeightsUnavailableError) as err:
        _load(toy, weights=str(tuned))
    text = str(err.value)
    assert "\n" not in text and str(tuned) in text and "fc.weight" in text
    assert "(12, 16)" in text and "(10, 16)" in text and "12 classes" in text
    state = ns["build"]().state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(WeightsUnavailableError, match=r"extra\.pt does not fit .*unexpected extra\.weight"):
        _load(toy, weights=str(tmp_path / "extra.pt"))


def test_factory_errors_are_one_line(toy, tmp_path):
    from amx_core.errors import UnknownModelError
    from amx_core.models import load_classifier

    model = toy[0]
    src = model.rpartition(":")[0]
    for name, message in [(f"{src}:nope", "defines no function 'nope'"),
                          (f"{src}:not_a_model", "returned int, not a torch nn.Module"),
                          (f"{tmp_path}/missing.py:build", "no file"),
                          ("no_such_package.models:build", "cannot import no_such_package.models"),
                          ("timm:resnet_18", "timm has no model 'resnet_18'"),
                          ("torchvision:resnet_18", "torchvision has no classification model")]:
        with pytest.raises(UnknownModelError, match=re.escape(message)):
            load_classifier(name, weights="random")
    # a package.module:function factory
    assert load_classifier("torchvision.models:resnet18", weights="random", input_size=64).spec.taps == \
        ("relu", "layer1", "layer2", "layer3", "layer4")


# ---------------------------------------------------------------- timm, torchvision


def test_timm_resnet18_random_weights_takes_timms_preprocessing_and_automatic_taps():
    from amx_core.models import load_classifier

    clf = load_classifier("timm:resnet18", weights="random")
    assert clf.spec.taps == ("act1", "layer1", "layer2", "layer3", "layer4") and clf.spec.head == "fc"
    assert (clf.spec.crop, clf.spec.resize, clf.spec.interpolation) == (224, 235, "bicubic")  # crop_pct 0.95
    assert len(clf.classes) == 1000 and clf.classes[0] == "tench"
    tv = load_classifier("torchvision:efficientnet_b1", weights="random")  # torchvision's weights transforms
    assert (tv.spec.crop, tv.spec.resize) == (240, 255) and len(tv.spec.taps) == 5


def test_timm_weights_not_cached_and_hub_unreachable_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub

    from amx_core import models

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(models, "_hub_reachable", lambda *a, **k: False)
    with pytest.raises(WeightsUnavailableError) as err:
        models.load_classifier("timm:resnet18")
    text = str(err.value)
    assert "\n" not in text and "--weights FILE" in text and "not reachable" in text


def test_amx_explain_runs_timm_resnet18_with_automatic_taps(tmp_path, capsys):
    from amx_core.cli.explain import main

    good_images(tmp_path / "in", 1)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", "timm:resnet18", "--weights",
               "random", "--input-size", "64", "--steps", "1", "--circuits"])
    assert rc == 0, capsys.readouterr().err
    [folder] = (tmp_path / "out").iterdir()
    circuit = json.loads((folder / "circuit_original.json").read_text())
    assert circuit["layers"] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert circuit["model"] == "timm:resnet18"


# ---------------------------------------------------------------- the command lines, end to end


def test_amx_explain_with_own_model_weights_and_labels(toy, tmp_path, capsys):
    from amx_core.cli.explain import main

    model, weights, labels, _ = toy
    good_images(tmp_path / "in", 1)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", model, "--weights", str(weights),
               "--labels", str(labels), "--class", "Horse", "--input-size", "32", "--steps", "2", "--circuits"])
    err = capsys.readouterr().err
    assert rc == 0, err
    [folder] = (tmp_path / "out").iterdir()
    record = json.loads((folder / "record.json").read_text())
    assert record["target_name"] == "horse" and record["metrics"]["target"] == 7
    assert record["predicted_x_name"] in LABELS and len(record["config"]["layer_weights"]) == 3
    circuit = json.loads((folder / "circuit_explanation.json").read_text())
    assert circuit["layers"] == ["stage1", "stage2", "stage3"]
    assert {link["class_name"] for link in circuit["logit_links"]} == {"horse"}
    assert (folder / "original.png").exists()
    from PIL import Image

    assert Image.open(folder / "original.png").size == (32, 32)


def test_amx_explain_unknown_label_and_mismatched_labels_are_one_line(toy, tmp_path, capsys):
    from amx_core.cli.explain import main

    model, weights, labels, _ = toy
    good_images(tmp_path / "in", 1)
    base = [str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--model", model, "--weights", str(weights),
            "--input-size", "32"]
    assert main([*base, "--labels", str(labels), "--class", "hors"]) == 2
    err = capsys.readouterr().err
    assert "closest classes: horse" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    assert main([*base, "--labels", str(tmp_path / "three.txt")]) == 2
    err = capsys.readouterr().err
    assert "has 3 class names" in err and "10 outputs" in err and len(err.strip().splitlines()) == 1


def test_amx_ingest_stores_own_labels_and_the_explorer_lists_them(toy, tmp_path, capsys):
    from cypher import open_store
    from ingest.cli import main as ingest_main

    model, weights, labels, _ = toy
    good_images(tmp_path / "imgs", 2)
    store = str(tmp_path / "s.lbug")
    rc = ingest_main(["--class", "frog", "--images", str(tmp_path / "imgs"), "--store", store, "--model", model,
                      "--weights", str(weights), "--labels", str(labels), "--input-size", "32", "--steps", "2",
                      "--batch-size", "2", "--workers", "1"])
    out, err = capsys.readouterr()
    assert rc in (0, 1), err  # 1 only when the model disagrees with --class somewhere: not an error
    with open_store(store, read_only=True) as s:
        rows = s.run("classes")  # the explorer's class list
        assert {"class": "frog", "class_index": 6} in [{k: r[k] for k in ("class", "class_index")} for r in rows]
        assert [r["images"] for r in rows if r["class"] == "frog"] == [2]
        assert {r["class"] for r in rows} <= set(LABELS)  # logit links name only the model's own labels


def test_version_flag_on_every_console_script(capsys):
    import amx_core
    from amx_bench.cli import main as bench_main
    from amx_core.cli.explain import main as explain_main
    from amx_core.cli.train_masker import main as masker_main
    from explorer.cli import main as explore_main
    from explorer.query import main as query_main
    from ingest.cli import main as ingest_main

    for prog, main in [("amx-explain", explain_main), ("amx-ingest", ingest_main), ("amx-train-masker", masker_main),
                       ("amx-explore", explore_main), ("amx-query", query_main), ("amx-bench", bench_main)]:
        with pytest.raises(SystemExit) as done:
            main(["--version"])
        assert done.value.code == 0
        assert capsys.readouterr().out.strip() == f"{prog} {amx_core.__version__}"


# ---------------------------------------------------------------- the Python API


def test_wrap_model_leaves_the_users_module_as_it_was(toy):
    from amx_core import explain, read_circuit, wrap_model
    from amx_core.config import PRESETS
    from amx_core.hooks import hook_count

    net = toy[3]["build"]()
    net.train()
    net.stage1[0].weight.requires_grad_(False)  # a partly frozen fine-tune
    grads = [p.requires_grad for p in net.parameters()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    clf = wrap_model(net, labels=LABELS, input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert clf.spec.taps == ("stage1", "stage2", "stage3") and clf.classes == LABELS
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    [ex] = explain(clf, x, config=PRESETS["compact"].with_(steps=2, auc_steps=4))
    circuit = read_circuit(clf, ex.pixels, ex.mask, class_index=ex.target)
    assert circuit.layers == ("stage1", "stage2", "stage3") or list(circuit.layers) == ["stage1", "stage2", "stage3"]
    assert net.training and all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == grads
    assert hook_count(net) == 0
    # batch-norm running statistics untouched (the passes ran in eval mode)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert next(net.parameters()).is_contiguous()  # no channels_last conversion of the user's tensors


def _readme_python_block() -> str:
    text = README.read_text()
    section = text.split("## Python", 1)[1]
    return section.split("```python", 1)[1].split("```", 1)[0]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python section, executed as written (in a folder with two photos), so it cannot rot."""
    code = _readme_python_block()
    monkeypatch.chdir(tmp_path)
    paths = good_images(tmp_path, 2)
    for i, p in enumerate(paths):
        p.rename(tmp_path / f"photo{i + 1}.png")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["circuit"].logit_links
    from cypher import open_store

    with open_store(tmp_path / "out" / "notebook.lbug", read_only=True) as s:
        assert s.stats()["images"] == 1


@pytest.mark.slow
def test_real_efficientnet_lite0_wrapped_finds_five_taps_and_predicts_the_same():
    from amx_core.models import load_classifier, wrap_model

    built_in = load_classifier("efficientnet_lite0")
    net = built_in.net.to(memory_format=torch.contiguous_format)
    wrapped = wrap_model(net, input_size=224, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert len(wrapped.spec.taps) == 5 and wrapped.spec.taps[-1] == "bn2" and wrapped.spec.head == "classifier"
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(built_in(x), wrapped(x), atol=1e-5)


# ---------------------------------------------------------------- output flags, progress


def test_amx_explain_json_lines_on_stdout_and_quiet_stderr(tmp_path, tiny, capsys):
    from amx_core.cli.explain import main

    good_images(tmp_path / "in", 2)
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--steps", "2", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert Path(line["folder"]).is_dir() and len(line["image_id"]) == 64
        assert line["target_name"] and 0 < line["mask_area"] <= 1 and "config" not in line
    rc = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--steps", "2"])
    out, err = capsys.readouterr()
    assert rc == 0 and out == "" and "2 explained" in err and "explain [" in err  # progress lines and summary


def test_progress_is_tqdm_on_a_terminal_plain_lines_elsewhere_and_silent_when_disabled():
    import io

    from amx_core.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    bar = ProgressBar(2, "explain", stream=term)
    bar.advance(note="a.png")
    bar.advance(note="b.png")
    bar.close()
    assert "2/2" in term.getvalue() and "b.png" in term.getvalue() and "\r" in term.getvalue()
    plain = io.StringIO()
    bar = ProgressBar(2, "explain", stream=plain)
    bar.advance(note="a.png")
    bar.close()
    assert plain.getvalue().startswith("explain [") and plain.getvalue().endswith("a.png\n")
    quiet = io.StringIO()
    bar = ProgressBar(2, "explain", stream=quiet, disable=True)
    bar.advance()
    bar.close()
    assert quiet.getvalue() == "" and bar.done == 1


def test_amx_ingest_keeps_other_weights_or_preprocessing_of_the_same_model_apart(toy, tmp_path):
    """A rerun skips what is stored; the same --model with another weights file or input size is not
    'already stored' (the store key covers them)."""
    from ingest.pipeline import IngestOptions, run_ingest

    model, weights, labels, ns = toy
    good_images(tmp_path / "imgs", 1)
    other = tmp_path / "other.pt"
    torch.manual_seed(5)
    torch.save(ns["build"]().state_dict(), other)

    def ingest(weights_file, size):
        opts = IngestOptions(class_name="frog", images=(str(tmp_path / "imgs"),), store=str(tmp_path / "s.lbug"),
                             model=model, weights=str(weights_file), steps=1, workers=1,
                             model_options={"labels": str(labels), "input_size": size})
        return run_ingest(opts, report=lambda _m: None)

    assert ingest(weights, 32).ingested == 1
    assert ingest(weights, 32).skipped == 1
    assert ingest(weights, 40).ingested == 1
    assert ingest(other, 32).ingested == 1


def test_wrap_model_takes_labels_from_a_file_and_its_own_preprocess(toy, tmp_path):
    from PIL import Image

    from amx_core import wrap_model

    _, _, labels, ns = toy
    seen = []

    def preprocess(image):
        seen.append(image.size)
        return torch.full((3, 32, 32), 0.25)

    clf = wrap_model(ns["build"](), labels=labels, input_size=32, preprocess=preprocess)
    assert clf.classes == LABELS
    assert torch.equal(clf.preprocess(Image.new("RGB", (50, 40))), torch.full((3, 32, 32), 0.25))
    assert seen == [(50, 40)]
    with pytest.raises(AmxError, match="needs a torch nn.Module"):
        wrap_model(lambda x: x)


def test_explanation_and_circuit_show_themselves_in_jupyter(toy):
    import io

    from PIL import Image

    from amx_core import explain, read_circuit, wrap_model
    from amx_core.config import PRESETS

    clf = wrap_model(toy[3]["build"](), labels=LABELS, input_size=32)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    [ex] = explain(clf, x, config=PRESETS["compact"].with_(steps=1), report=False)
    circuit = read_circuit(clf, ex.pixels, ex.mask, class_index=ex.target)
    for shown in (ex, circuit):
        png = shown._repr_png_()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(png)).size[0] > 300


def test_amx_ingest_quiet_prints_no_progress_and_no_summary(tmp_path, tiny, capsys):
    from ingest.cli import main as ingest_main

    good_images(tmp_path / "imgs", 1)
    args = ["--class", "cheetah", "--images", str(tmp_path / "imgs"), "--store", str(tmp_path / "s.lbug"),
            "--steps", "1", "--workers", "1"]
    assert ingest_main([*args, "--quiet"]) in (0, 1)
    out, err = capsys.readouterr()
    assert out == "" and "ingest cheetah [" not in err
    assert ingest_main([*args, "--force"]) in (0, 1)
    out, err = capsys.readouterr()
    assert "amx-ingest summary for class 'cheetah'" in out and "ingest cheetah [" in err


def test_preprocessing_options_and_their_errors(toy):
    clf = _load(toy, mean="0.5", std="0.25,0.5,1", resize=48)
    assert clf.spec.mean == (0.5, 0.5, 0.5) and clf.spec.std == (0.25, 0.5, 1.0) and clf.spec.resize == 48
    assert torch.allclose(clf.baseline.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    for kw, message in [({"std": "0,1,1"}, "--std"), ({"mean": "1,2"}, "three numbers"),
                        ({"mean": "a,b,c"}, "three numbers"), ({"resize": 16}, "at least --input-size 32"),
                        ({"input_size": 4}, "too small")]:
        with pytest.raises(AmxError, match=re.escape(message)):
            _load(toy, **kw)


def test_version_is_the_packages():
    import tomllib

    import amx_core

    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]
    assert amx_core.__version__ == project["version"]
