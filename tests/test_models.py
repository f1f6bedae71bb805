"""Model registry, class names, weights errors (no network needed), and the real classifier (slow)."""

from pathlib import Path

import pytest
import torch

from amx_core.errors import UnknownClassError, UnknownModelError, WeightsUnavailableError
from amx_core.models import SPECS, get_spec, imagenet_classes, load_classifier, resolve_class

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_class_names_resolve_case_insensitively_and_by_index():
    assert resolve_class("EntleBucher") == 241
    assert resolve_class("entlebucher") == 241
    assert resolve_class("tabby") == 281
    assert resolve_class("Egyptian_cat") == 285
    assert resolve_class("241") == 241
    assert resolve_class(0) == 0
    assert len(imagenet_classes()) == 1000


def test_unknown_class_lists_closest_matches():
    with pytest.raises(UnknownClassError) as err:
        resolve_class("Entlebuch")
    assert "EntleBucher" in str(err.value)
    with pytest.raises(UnknownClassError, match="outside 0..999"):
        resolve_class("1000")


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UnknownModelError, match="resnet18"):
        get_spec("resnet_18")
    with pytest.raises(UnknownModelError, match="no tap layout"):
        get_spec("alexnet")


def test_missing_resnet18_weights_say_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*_a, **_k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        load_classifier("resnet18")
    text = str(err.value)
    assert "--weights FILE" in text and "efficientnet_lite0" in text and str(tmp_path) in text
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_classifier("resnet18", weights=str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_text("not a state dict")
    with pytest.raises(WeightsUnavailableError, match="not a torch state dict"):
        load_classifier("resnet18", weights=str(bad))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "vgg16", "resnet50"])
def test_taps_and_head_exist_with_post_activation_outputs(name):
    from amx_core.hooks import capture

    clf = load_classifier(name, weights="random")
    spec = SPECS[name]
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad(), capture(clf.net, spec.taps, [spec.head]) as acts:
        logits = clf(x)
    assert logits.shape == (1, 1000)
    for tap in spec.taps:
        assert acts[tap].dim() == 4
    assert acts[f"{spec.head}:in"].dim() == 2
    # ReLU-family taps are non-negative; Hardswish (mobilenet) is bounded below by -3/8
    floor = -0.375 if name == "mobilenet_v3_large" else 0.0
    assert all(float(acts[t].min()) >= floor - 1e-6 for t in spec.taps)


def test_classifier_is_frozen_in_eval_mode():
    clf = load_classifier("resnet18", weights="random")
    assert not clf.training and not clf.net.training
    assert not any(p.requires_grad for p in clf.parameters())
    assert torch.allclose(clf.baseline.flatten(), torch.tensor([0.485, 0.456, 0.406]))


@pytest.mark.slow
def test_efficientnet_lite0_real_weights_recognise_a_cheetah():
    photo = SAMPLES / "cheetah" / "gradio-cheetah.jpg"
    if not photo.exists():
        pytest.skip(f"{photo} missing: run `make samples`")
    from PIL import Image

    clf = load_classifier("efficientnet_lite0")
    assert sum("num_batches_tracked" not in k for k in clf.net.state_dict()) == 247  # paired in order
    with torch.no_grad():
        probs = torch.softmax(clf(clf.preprocess(Image.open(photo))[None]), 1)[0]
    assert int(probs.argmax()) == resolve_class("cheetah")
    assert float(probs.max()) > 0.5


def test_weights_for_another_head_size_are_one_line_naming_the_file_and_the_mismatch(tmp_path):
    """A fine-tuned file (a 10-class head) ended in torch's multi-line size-mismatch traceback."""
    import torchvision

    from amx_core import models  # the lite0 loader pairs tensors in order, not by name

    tuned = tmp_path / "tuned-10.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tuned)
    with pytest.raises(WeightsUnavailableError) as err:
        load_classifier("resnet18", weights=str(tuned))
    text = str(err.value)
    assert "\n" not in text and str(tuned) in text and "fc.weight" in text
    assert "(10, 512)" in text and "(1000, 512)" in text and "10 classes" in text
    state = torchvision.models.resnet18().state_dict()
    del state["fc.bias"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(WeightsUnavailableError, match=r"short\.pth does not fit resnet18: missing fc\.bias"):
        load_classifier("resnet18", weights=str(tmp_path / "short.pth"))
    import timm

    lite = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10)
    torch.save(lite.state_dict(), tmp_path / "lite-10.pth")
    with pytest.raises(WeightsUnavailableError) as err:
        models._load_lite0(str(tmp_path / "lite-10.pth"))
    assert "lite-10.pth" in str(err.value) and "(10, 1280)" in str(err.value) and "\n" not in str(err.value)


def test_amx_ingest_with_weights_for_another_head_is_one_line(tmp_path, capsys):
    import torchvision

    from ingest.cli import main as ingest_main
    from tests.imagefiles import good_images

    tuned = tmp_path / "tuned-10.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tuned)
    good_images(tmp_path / "imgs", 1)
    rc = ingest_main(["--class", "cheetah", "--images", str(tmp_path / "imgs"), "--store", str(tmp_path / "s.lbug"),
                      "--model", "resnet18", "--weights", str(tuned)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(tuned) in err and "fc.weight" in err
