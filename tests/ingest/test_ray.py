"""amx-ingest --executor ray on a Ray started by this module on this machine (2 workers of one CPU each, no
dashboard, shut down at the end), with the tiny classifier: the store equals a local ingest's image by image
and edge by edge; a worker SIGKILLed mid-batch loses and duplicates nothing; the bad-file corpus gives the
same one-line reports and exit code as locally.

The workers unpickle the classifier, so they import `tests.tiny` (and, for the killing model, this module):
the repository root goes to them on PYTHONPATH.
"""

from __future__ import annotations

import functools
import json
import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor needs `pip install -e '.[ray]'` (in the dev extra)")

from amx_core.models import Classifier  # noqa: E402
from cypher import open_store  # noqa: E402
from ingest.cli import main as ingest_main  # noqa: E402
from ingest.pipeline import IngestOptions, run_ingest  # noqa: E402
from tests.imagefiles import bad_images, good_images  # noqa: E402
from tests.tiny import TINY_SPEC, TinyNet, tiny_classifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_IMAGES = 5  # batches of 2: two full batches and one of one


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    good_images(folder, N_IMAGES)
    return folder


@pytest.fixture(scope="module")
def local_store(photos, tmp_path_factory):
    """The store after a local ingest of `photos` (the reference), and its dump."""
    url = f"ladybug://{tmp_path_factory.mktemp('local') / 'store.lbug'}"
    summary = _ingest(url, photos, executor="local")
    assert (summary.ingested, summary.failed) == (N_IMAGES, [])
    return url, _dump(url)


def _ingest(store_url, folder, *, classifier=None, **kw):
    kw = {"steps": 2, "class_name": "cheetah", "batch_size": 2, "workers": 2, **kw}
    opts = IngestOptions(images=(str(folder),), store=store_url, **kw)
    return run_ingest(opts, classifier=classifier or tiny_classifier(), report=lambda _m: None)


def _metrics(text: str) -> dict:
    """Stored metrics without what only describes the run (timings, threads): the rest must be equal."""
    m = json.loads(text) if text else {}
    return {k: v for k, v in m.items() if k != "run" and "seconds" not in k}


def _dump(url) -> dict:
    """Everything the store holds per image, circuit, node and edge, keyed by id (ids are content hashes)."""
    with open_store(url, read_only=True) as s:
        q = s.run_cypher
        images = {r["id"]: {**r, "metrics": _metrics(r["metrics"])} for r in q(
            "MATCH (i:Image)-[:OF_CLASS]->(c:Class) RETURN i.id AS id, i.path AS path, c.name AS class, "
            "i.predicted AS predicted, i.confidence AS confidence, i.agrees AS agrees, i.metrics AS metrics, "
            "i.original_jpeg AS original, i.mask_png AS mask, i.explanation_jpeg AS explanation")}
        circuits = {r["id"]: {**r, "metrics": _metrics(r["metrics"])} for r in q(
            "MATCH (i:Image)-[:HAS_CIRCUIT]->(c:Circuit) RETURN c.id AS id, i.id AS image, c.kind AS kind, "
            "c.mask_area AS mask_area, c.confidence AS confidence, c.n_nodes AS n_nodes, c.n_edges AS n_edges, "
            "c.metrics AS metrics")}
        acts = {r["id"]: r for r in q(
            "MATCH (c:Circuit)-[:HAS]->(a:Act) RETURN a.id AS id, c.id AS circuit, a.activation AS activation, "
            "a.rank AS rank")}
        flows = [(r["s"], r["d"], r["w"]) for r in q(
            "MATCH (a:Act)-[f:FLOW]->(b:Act) RETURN a.id AS s, b.id AS d, f.weight AS w")]
        logits = [(r["s"], r["c"], r["w"]) for r in q(
            "MATCH (a:Act)-[l:LOGIT]->(c:Class) RETURN a.id AS s, c.name AS c, l.weight AS w")]
    return {"images": images, "circuits": circuits, "acts": acts, "flows": sorted(flows), "logits": sorted(logits)}


def _assert_same(got: dict, want: dict) -> None:
    assert set(got["images"]) == set(want["images"]) and len(want["images"]) == N_IMAGES
    for image_id, row in want["images"].items():  # image by image: pictures, labels, metrics
        assert got["images"][image_id] == row, image_id
    assert got["circuits"] == want["circuits"]
    assert got["acts"] == want["acts"]
    assert len(got["flows"]) == len(set(got["flows"])) == sum(c["n_edges"] for c in want["circuits"].values())
    assert got["flows"] == want["flows"]  # edge by edge, weights included
    assert got["logits"] == want["logits"]


def test_ray_ingest_stores_what_local_ingest_stores_and_resumes(local_ray, photos, local_store, tmp_path):
    _, want = local_store
    url = f"ladybug://{tmp_path / 'store.lbug'}"
    first = _ingest(url, photos, executor="ray")
    assert (first.ingested, first.skipped, first.failed, first.ok) == (N_IMAGES, 0, [], True)
    assert first.summaries_rebuilt == ["cheetah"]
    _assert_same(_dump(url), want)
    again = _ingest(url, photos, executor="ray")  # resume: everything is stored already
    assert (again.ingested, again.skipped) == (0, N_IMAGES)
    forced = _ingest(url, photos, executor="ray", force=True, workers=1)
    assert (forced.ingested, forced.skipped) == (N_IMAGES, 0)
    _assert_same(_dump(url), want)


class KillOnceNet(TinyNet):
    """The tiny model, which SIGKILLs the Ray worker process running it at its 4th forward pass in that
    process (inside a batch: explaining takes many passes) if `marker` still exists; the marker is
    removed first, so exactly one worker dies once, and the process that built the model never does."""

    def __init__(self, marker: str, driver_pid: int):
        super().__init__()
        self.marker, self.driver_pid, self.passes = marker, driver_pid, 0

    def forward(self, x):
        self.passes += 1
        if self.passes == 4 and os.getpid() != self.driver_pid:
            try:
                os.unlink(self.marker)
            except FileNotFoundError:
                pass
            else:
                Path(self.marker + ".killed").write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(x)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(local_ray, photos, local_store, tmp_path):
    _, want = local_store
    marker = tmp_path / "kill-once"
    marker.write_text("")
    net = KillOnceNet(str(marker), os.getpid())
    net.load_state_dict(tiny_classifier().net.state_dict())  # the same weights as the local reference
    url = f"ladybug://{tmp_path / 'store.lbug'}"
    summary = _ingest(url, photos, executor="ray", classifier=Classifier(TINY_SPEC, net))
    assert not marker.exists() and (tmp_path / "kill-once.killed").exists(), "no worker was killed"
    assert (summary.ingested, summary.skipped, summary.failed, summary.ok) == (N_IMAGES, 0, [], True)
    _assert_same(_dump(url), want)  # every image exactly once, and as the local executor stores it


def _cli(tmp_path: Path, folder: Path, executor: str, capsys, monkeypatch) -> tuple[int, list[str], str]:
    monkeypatch.setattr("ingest.cli.run_ingest", functools.partial(run_ingest, classifier=tiny_classifier()))
    rc = ingest_main(["--class", "cheetah", "--images", str(folder), "--store", str(tmp_path / f"{executor}.lbug"),
                      "--steps", "2", "--batch-size", "2", "--executor", executor, "--workers", "2"])
    out = capsys.readouterr()
    reports = [line for line in out.err.splitlines() if line.startswith("amx-ingest: skipped")]
    table = [line for line in out.out.splitlines() if "failed" in line or "ingested" in line]
    return rc, reports, "\n".join(table)


def test_bad_files_give_the_same_reports_and_exit_code_as_locally(local_ray, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "imgs"
    good_images(folder, 1)
    cases = bad_images(folder)
    local = _cli(tmp_path, folder, "local", capsys, monkeypatch)
    remote = _cli(tmp_path, folder, "ray", capsys, monkeypatch)
    assert local[0] == remote[0] == 1
    assert len(local[1]) == len(cases) and remote[1] == local[1]
    assert remote[2] == local[2]
    for reason, path in cases.items():
        assert any(path.name in line and reason in line for line in remote[1]), (reason, remote[1])


def test_ray_options_are_refused_in_one_line_without_ray_or_with_impossible_resources(local_ray, photos, tmp_path):
    from amx_core.errors import AmxError

    with pytest.raises(AmxError, match="need --executor ray"):
        _ingest(f"ladybug://{tmp_path / 'a.lbug'}", photos, executor="local", gpus_per_worker=1)
    with pytest.raises(AmxError, match="GPUs; the Ray cluster has 0"):
        _ingest(f"ladybug://{tmp_path / 'b.lbug'}", photos, executor="ray", gpus_per_worker=1)
    with pytest.raises(AmxError, match="--workers 3 need 3 CPUs; the Ray cluster has 2"):
        _ingest(f"ladybug://{tmp_path / 'c.lbug'}", photos, executor="ray", workers=3)


def test_an_address_where_no_ray_answers_is_one_line_within_seconds():
    import time

    from amx_core.errors import AmxError
    from ingest.executors import check_reachable

    start = time.monotonic()
    with pytest.raises(AmxError, match="127.0.0.1:1: no Ray cluster answers there"):
        check_reachable("127.0.0.1:1")  # ray.init itself would keep trying for minutes
    with pytest.raises(AmxError, match="expected HOST:PORT"):
        check_reachable("nowhere")
    check_reachable("auto")  # left to Ray
    assert time.monotonic() - start < 15


USER_MODEL = '''
import torch
from torch import nn


class FileNet(nn.Module):  # defined in a file the workers cannot import by name
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.relu1 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(6, 1000)

    def forward(self, x):
        return self.fc(self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x))))).flatten(1))


def make():
    return FileNet()
'''


def test_a_model_from_a_users_file_reaches_the_workers(local_ray, tmp_path):
    """`--model path/file.py:function`: the driver loads the file under a made-up module name, which the
    workers cannot import; its classes travel by value, and the results equal a local run's."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mymodel.py").write_text(USER_MODEL)
    good_images(tmp_path / "imgs", 2)
    model = f"{tmp_path / 'elsewhere' / 'mymodel.py'}:make"
    dumps = []
    for executor in ("local", "ray"):
        url = f"ladybug://{tmp_path / executor / 'store.lbug'}"
        opts = IngestOptions(images=(str(tmp_path / "imgs"),), store=url, class_name="cheetah", steps=2,
                             batch_size=2, executor=executor, model=model,
                             model_options={"input_size": 32, "resize": 32})
        summary = run_ingest(opts, report=lambda _m: None)
        assert (summary.ingested, summary.failed) == (2, [])
        dumps.append(_dump(url))
    assert dumps[0]["flows"] and dumps[1] == dumps[0]


def test_amortised_mode_on_ray_equals_local(local_ray, tmp_path):
    """--masker: the generator travels inside the batch recipe and gives the local executor's results."""
    import torch

    from amx_core.config import ExplainConfig
    from amx_core.explain import train_masker

    good_images(tmp_path / "imgs", 3)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    train_masker(tiny_classifier(), x, config=ExplainConfig(width=8, mask_resolution=8), epochs=1,
                 batch_size=2).save(tmp_path / "m.pt")
    dumps = []
    for executor in ("local", "ray"):
        url = f"ladybug://{tmp_path / executor / 'store.lbug'}"
        summary = _ingest(url, tmp_path / "imgs", executor=executor, masker=str(tmp_path / "m.pt"), steps=None)
        assert (summary.ingested, summary.failed) == (3, [])
        dumps.append(_dump(url))
    assert dumps[0]["flows"] and dumps[1] == dumps[0]


def test_a_worker_gone_for_good_hands_its_batch_to_another(local_ray, photos, local_store, tmp_path, monkeypatch):
    """The first worker sent a batch is killed for good (no restart): its batch goes to the other worker,
    the run says so once and ends with every image stored exactly once."""
    from ingest.executors import RayExecutor

    _, want = local_store
    original, killed = RayExecutor._send, []

    def send_then_kill_once(self, todo, attempt, avoid=None):
        original(self, todo, attempt, avoid)
        if not killed:
            actor = list(self.pending.values())[-1].actor
            ray.kill(self.actors[actor], no_restart=True)
            killed.append(actor)

    monkeypatch.setattr(RayExecutor, "_send", send_then_kill_once)
    lines: list[str] = []
    url = f"ladybug://{tmp_path / 'store.lbug'}"
    opts = IngestOptions(images=(str(photos),), store=url, class_name="cheetah", steps=2, batch_size=2,
                         workers=2, executor="ray")
    summary = run_ingest(opts, classifier=tiny_classifier(), report=lines.append)
    assert killed and [line for line in lines if "Ray worker was lost" in line] == [
        "amx-ingest: a Ray worker was lost (ActorDiedError); its batches go to another"]
    assert (summary.ingested, summary.skipped, summary.failed, summary.ok) == (N_IMAGES, 0, [], True)
    _assert_same(_dump(url), want)
