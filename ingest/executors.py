"""Where an ingest run's batches are explained: in this process (`local`, the default) or on the actors of
a Ray cluster (`ray`). The driver (`ingest.pipeline.run_ingest`) lists, hashes and checks the images, skips
the stored ones, and writes every image in one transaction, whichever executor explained it; an executor
only turns a batch of (path, sha256, pixels) into one `ExplainedImage` per image and hands each to
`write(path, sha256, item)`.

- `LocalExecutor` explains a batch when it is handed over and writes each image as soon as its circuits
  are read (the behaviour of amx-ingest before executors existed).
- `RayExecutor` starts `workers` actors, each of which loads the classifier once (shipped from the driver
  through Ray's object store, so a test's or a `--weights` model needs no file on the workers) and
  explains whole batches. It sends the image files' bytes, so the workers need not see the driver's disk;
  a worker decodes them with the same loader as the driver, so the pixels, and thus the circuits, are the
  same as locally. Up to two batches per actor are in flight; the driver writes the images of a batch
  when it comes back, in completion order. After a Ctrl-C no batch is handed over; those already with
  the workers are finished and written. A worker that dies mid-batch is restarted by Ray, which runs
  the batch again (`max_restarts`, `max_task_retries`); if the actor is gone for good, the driver hands
  the batch to another actor. A batch is written only once it is back whole, so no image is lost or
  written twice.

`ExplainRecipe` is what both executors run on a batch: the explain settings, the readout, the target
and the number of random circuits per sufficiency check, so a worker computes what the local path does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from amx_core.errors import AmxError

if TYPE_CHECKING:
    import torch

    from amx_core.models import Classifier
    from amx_core.pipeline import ExplainedImage, ExplainSettings
    from amx_core.readout import ReadoutConfig

Batch = list[tuple[Path, str, Any]]  # (path, sha256 of the file, pixels [3,H,W] in [0,1])
Write = Callable[[Path, str, "ExplainedImage"], None]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExplainRecipe:
    """How one batch is explained and read; the same object runs locally and on a Ray worker."""

    settings: ExplainSettings
    readout: ReadoutConfig
    target: int | None  # the class to explain for every image, or None for each image's top-1
    n_random: int = 3

    def run(self, classifier: Classifier, pixels: torch.Tensor, image_ids: list[str]) -> Iterator[ExplainedImage]:
        from amx_core.pipeline import explain_and_read

        targets = [self.target] * len(image_ids) if self.target is not None else None
        return explain_and_read(classifier=classifier, pixels=pixels, settings=self.settings, targets=targets,
                                image_ids=image_ids, readout=self.readout, n_random=self.n_random)


class BatchExecutor(Protocol):
    def submit(self, todo: Batch) -> None:
        """Hand a batch over; images of this or earlier batches may be written before it returns."""

    def finish(self) -> None:
        """Wait for every batch handed over and write its images."""

    def close(self) -> None:
        """Release the workers (also after an error or a second Ctrl-C)."""


class LocalExecutor:
    """Explain each batch in this process when it is handed over; write each image as soon as it is read."""

    def __init__(self, classifier: Classifier, recipe: ExplainRecipe, write: Write):
        self.classifier, self.recipe, self.write = classifier, recipe, write

    def submit(self, todo: Batch) -> None:
        import torch

        pixels = torch.stack([p for _, _, p in todo]).to(self.classifier.mean.device)
        explained = self.recipe.run(self.classifier, pixels, [sha for _, sha, _ in todo])
        for (path, sha, _), item in zip(todo, explained, strict=True):
            self.write(path, sha, item)

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_executor(kind: str, *, classifier: Classifier, recipe: ExplainRecipe, write: Write,
                  ray_address: str | None = None, workers: int = 2, gpus_per_worker: float | None = None,
                  device: str = "cpu", say: Callable[[str], None] | None = None) -> BatchExecutor:
    """The executor `--executor` names, with its options checked in one line each."""
    if kind not in EXECUTORS:
        raise AmxError(f"--executor {kind!r}: expected {' or '.join(EXECUTORS)}")
    if kind == "local":
        if ray_address is not None or gpus_per_worker is not None:
            raise AmxError("--ray-address and --gpus-per-worker need --executor ray")
        return LocalExecutor(classifier, recipe, write)
    return RayExecutor(classifier, recipe, write, address=ray_address, workers=workers,
                       gpus_per_worker=gpus_per_worker, device=device, say=say)


def worker_device(device: str, gpus_per_worker: float | None) -> tuple[str, float]:
    """A Ray worker's torch device and GPUs: `--gpus-per-worker G > 0` means CUDA (Ray makes the worker's
    GPU visible as cuda:0); `--device cuda` alone asks for one GPU per worker; else the CPU."""
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise AmxError(f"--gpus-per-worker {gpus_per_worker}: must be at least 0")
    if not (device == "cpu" or device.startswith("cuda")):
        raise AmxError(f"--device {device}: expected cpu or cuda[:N]")
    gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if device.startswith("cuda") else 0.0)
    if device.startswith("cuda") and gpus == 0:
        raise AmxError(f"--device {device} --gpus-per-worker 0: a Ray worker sees a GPU only when it asks "
                       "for one; give --gpus-per-worker (e.g. 1, or 0.5 for two workers per GPU)")
    return ("cuda" if gpus > 0 else "cpu"), float(gpus)


def decode(name: str, data: bytes, folder: str) -> Any:
    """The PIL image of a file's bytes, decoded by `amx_core.images.load_image` exactly as the driver did
    (through a file of the same suffix in `folder`); a `BadImageError` names the driver's path."""
    from amx_core.errors import BadImageError
    from amx_core.images import load_image

    tmp = Path(folder) / f"image{Path(name).suffix}"
    tmp.write_bytes(data)
    try:
        return load_image(tmp)
    except BadImageError as err:
        raise BadImageError(str(err).replace(str(tmp), name)) from None
    finally:
        tmp.unlink(missing_ok=True)


class RayWorker:
    """One Ray actor: loads the classifier once (moved to its device) and explains whole batches."""

    def __init__(self, recipe: ExplainRecipe, device: str, threads: int):
        import torch

        from amx_core.models import check_device

        torch.set_num_threads(max(1, threads))
        self.device = check_device(device)
        self.classifier: Classifier | None = None
        masker = recipe.settings.masker
        if masker is not None:
            masker = dataclasses.replace(masker, net=masker.net.to(self.device))
            recipe = dataclasses.replace(recipe, settings=dataclasses.replace(recipe.settings, masker=masker))
        self.recipe = recipe
        self.folder = tempfile.mkdtemp(prefix="amx-ray-")

    def load(self, model: list) -> int:
        """The classifier, fetched once from the object store: `model` is [ref] (a reference inside a list
        reaches the actor unresolved). Every call carries it, so an actor that Ray restarted (a new process)
        loads the model again when its batch is retried. Returns the worker's process id."""
        if self.classifier is None:
            import ray

            self.classifier = ray.get(model[0]).to(self.device)
        return os.getpid()

    def cpu_seconds(self) -> float:
        """This worker process's CPU time so far (all its threads): benchmarks tell compute from waiting."""
        return time.process_time()

    def explain(self, model: list, batch: list[tuple[str, str, Any]]) -> list[ExplainedImage]:
        """[(path as the driver names it, sha256, file bytes or a pixel tensor)] -> one result per image,
        its tensors on the CPU."""
        import torch

        self.load(model)
        pixels = [self.classifier.preprocess(decode(name, data, self.folder)) if isinstance(data, bytes) else data
                  for name, _, data in batch]
        stacked = torch.stack(pixels).to(self.device)
        out = []
        for item in self.recipe.run(self.classifier, stacked, [sha for _, sha, _ in batch]):
            ex = item.explanation
            item.explanation = dataclasses.replace(ex, pixels=ex.pixels.cpu(), mask=ex.mask.cpu(),
                                                   rank_map=ex.rank_map.cpu(), baseline=ex.baseline.cpu())
            out.append(item)
        return out


@dataclass
class _InFlight:
    todo: Batch
    actor: int
    attempt: int


class RayExecutor:
    """Batches explained by `workers` Ray actors; see the module docstring. Connects to the cluster at
    `address` (or $RAY_ADDRESS), else starts one on this machine; a Ray already initialised in this process
    (a test's) is used as it is and left running."""

    MAX_RESTARTS = 3  # per actor: Ray restarts a dead worker process and retries its batches
    HANDOVERS = 2  # per batch: how many more actors the driver tries when one is gone for good
    IN_FLIGHT_PER_WORKER = 2  # one running, one queued: a worker never waits for the driver's writes

    def __init__(self, classifier: Classifier, recipe: ExplainRecipe, write: Write, *, address: str | None,
                 workers: int, gpus_per_worker: float | None, device: str = "cpu", cpus_per_worker: int = 1,
                 say: Callable[[str], None] | None = None):
        try:
            import ray
        except ImportError:
            raise AmxError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        if workers < 1:
            raise AmxError(f"--workers {workers}: must be at least 1")
        self._ray = ray
        self.write = write
        self.say = say or (lambda _m: None)
        self.device, gpus = worker_device(device, gpus_per_worker)
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            check_reachable(address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, configure_logging=True)
            except ConnectionError as err:
                raise AmxError(f"--ray-address {address}: cannot connect to a Ray cluster ({err})") from None
        try:
            self._check_resources(workers, cpus_per_worker, gpus)
            classifier = classifier.cpu()
            _ = classifier.classes  # resolved here, so a worker never looks for a labels file
            _ship_by_value(classifier)
            self._model = ray.put(classifier)
            actor = ray.remote(RayWorker).options(
                num_cpus=cpus_per_worker, num_gpus=gpus, max_restarts=self.MAX_RESTARTS,
                max_task_retries=self.MAX_RESTARTS)
            self.actors = [actor.remote(recipe, self.device, cpus_per_worker) for _ in range(workers)]
            self.alive = set(range(workers))
            self.pids = ray.get([a.load.remote([self._model]) for a in self.actors])  # every worker has loaded the model
        except ray.exceptions.RayError as err:  # e.g. no CUDA on a worker's node, or the model does not unpickle
            self.close()
            cause = getattr(err, "cause", None)
            raise AmxError(f"the Ray workers could not load the model: {_one_line(cause or err)}") from None
        except BaseException:
            self.close()
            raise
        self.pending: dict[Any, _InFlight] = {}
        self.seconds_waiting = 0.0  # the driver blocked on the workers (the rest of its time is its overhead)
        self.batches_retried = 0
        self.lost: set[int] = set()

    def _check_resources(self, workers: int, cpus: int, gpus: float) -> None:
        have = self._ray.cluster_resources()
        for name, each in (("CPU", cpus), ("GPU", gpus)):
            if each and workers * each > have.get(name, 0) + 1e-9:
                raise AmxError(f"--workers {workers} need {workers * each:g} {name}s; the Ray cluster has "
                               f"{have.get(name, 0):g}")

    def submit(self, todo: Batch) -> None:
        # send first, then wait for room: a Ctrl-C during the wait (the driver's loop checks it when this
        # returns) sends nothing more, as locally, where it stops after the batch being explained
        self._send(todo, attempt=0)
        while len(self.pending) >= self.IN_FLIGHT_PER_WORKER * len(self.alive):
            self._collect_one()

    def finish(self) -> None:
        while self.pending:
            self._collect_one()

    def close(self) -> None:
        ray = self._ray
        for a in getattr(self, "actors", []):
            try:
                ray.kill(a, no_restart=True)
            except Exception:
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()

    def _send(self, todo: Batch, attempt: int, avoid: int | None = None) -> None:
        if not self.alive:
            raise AmxError("every Ray worker is gone; rerun the same command to finish (done images are kept)")
        load = {i: 0 for i in self.alive}
        for f in self.pending.values():
            if f.actor in load:
                load[f.actor] += 1
        choice = min(load, key=lambda i: (i == avoid, load[i], i))
        ref = self.actors[choice].explain.remote([self._model], _payload(todo))
        self.pending[ref] = _InFlight(todo, choice, attempt)

    def _collect_one(self) -> None:
        ray = self._ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

        t = time.perf_counter()
        [ref], _ = ray.wait(list(self.pending), num_returns=1)
        flight = self.pending.pop(ref)
        try:
            results = ray.get(ref)
        except RayTaskError as err:  # the batch raised: the same error as locally, in one line
            cause = err.cause if isinstance(getattr(err, "cause", None), BaseException) else None
            raise (cause if isinstance(cause, AmxError) else AmxError(f"a Ray worker failed: {_one_line(cause or err)}")) \
                from None
        except (ActorDiedError, ActorUnavailableError, RayActorError) as err:
            if isinstance(err, ActorDiedError):
                self.alive.discard(flight.actor)
            if flight.attempt >= self.HANDOVERS:
                raise AmxError(f"a batch failed on {flight.attempt + 1} Ray workers ({type(err).__name__}); "
                               "rerun the same command to finish (done images are kept)") from None
            self.batches_retried += 1
            if flight.actor not in self.lost:  # once per worker, however many batches it held
                self.lost.add(flight.actor)
                self.say(f"amx-ingest: a Ray worker was lost ({type(err).__name__}); its batches go to another")
            self._send(flight.todo, flight.attempt + 1, avoid=flight.actor)
            return
        finally:
            self.seconds_waiting += time.perf_counter() - t
        for (path, sha, _), item in zip(flight.todo, results, strict=True):
            self.write(path, sha, item)


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A cluster address that nothing answers on is one line within seconds (ray.init itself keeps trying
    for minutes). "auto", "local" and no address are left to Ray."""
    import socket

    if not address or address in ("auto", "local"):
        return
    where = address.split("://", 1)[-1].rstrip("/")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise AmxError(f"--ray-address {address}: expected HOST:PORT (e.g. 10.0.0.5:6379), auto or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise AmxError(f"--ray-address {address}: no Ray cluster answers there ({err.strerror or err})") from None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _ship_by_value(classifier: Classifier) -> None:
    """Have Ray pickle by value (code included) the classes of the model's layers whose module a worker
    cannot import by name: a `--model path/file.py:function` model's, which the driver loaded from a file
    under a made-up module name. Modules importable from the path (installed packages) go by reference."""
    import importlib.machinery
    import sys

    from ray import cloudpickle

    for name in sorted({type(m).__module__ for m in classifier.modules()}):
        module, top = sys.modules.get(name), name.split(".")[0]
        if module is None or name == "__main__" or top in sys.builtin_module_names:
            continue  # cloudpickle sends __main__'s classes by value already
        if not any(_finds(f, top) for f in sys.meta_path if f is not importlib.machinery.BuiltinImporter):
            cloudpickle.register_pickle_by_value(module)


def _finds(finder, name: str) -> bool:
    """Whether an import finder (asked directly, not through sys.modules) knows a top-level module."""
    try:
        return finder.find_spec(name, None) is not None
    except Exception:
        return False


def _payload(todo: Batch) -> list[tuple[str, str, Any]]:
    """A batch as the workers get it: each file's bytes (the driver's pixels if the file changed since it
    was hashed, so the image explained is the one whose id it is stored under)."""
    out = []
    for path, sha, pixels in todo:
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            out.append((str(path), sha, pixels))
        else:
            out.append((str(path), sha, data))
    return out

