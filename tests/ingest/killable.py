"""Child process for the SIGKILL tests: ingest with the tiny classifier, killing itself (SIGKILL) when it
starts writing image number `kill_at` (1-based), or, with kill_at `rebuild`, after its last write, when
it starts rebuilding the class summaries; kill_at 0 never kills. An optional fourth argument is the class
(default cheetah)."""

import os
import signal
import sys

from cypher import Store
from ingest.pipeline import IngestOptions, run_ingest
from tests.tiny import tiny_classifier

store_url, folder, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
class_name = sys.argv[4] if len(sys.argv) > 4 else "cheetah"
original_write, original_rebuild = Store.write_circuits, Store.rebuild_stale
calls = 0


def write_then_maybe_die(self, image, circuits):
    global calls
    calls += 1
    if kill_at != "rebuild" and calls == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
    return original_write(self, image, circuits)


def rebuild_or_die(self):
    if kill_at == "rebuild":
        os.kill(os.getpid(), signal.SIGKILL)
    return original_rebuild(self)


Store.write_circuits = write_then_maybe_die
Store.rebuild_stale = rebuild_or_die
opts = IngestOptions(class_name=class_name, images=(folder,), store=store_url, steps=2, batch_size=2)
summary = run_ingest(opts, classifier=tiny_classifier(), report=lambda _m: None)
print(summary.ingested, summary.skipped)
