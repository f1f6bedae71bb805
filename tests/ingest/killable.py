"""Child process for the SIGKILL test: ingest with the tiny classifier, killing itself (SIGKILL) when it
starts writing image number `kill_at` (1-based); kill_at 0 never kills."""

import os
import signal
import sys

from cypher import Store
from ingest.pipeline import IngestOptions, run_ingest
from tests.tiny import tiny_classifier

store_url, folder, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
original = Store.write_circuits
calls = 0


def write_then_maybe_die(self, image, circuits):
    global calls
    calls += 1
    if calls == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, image, circuits)


Store.write_circuits = write_then_maybe_die
opts = IngestOptions(class_name="cheetah", images=(folder,), store=store_url, steps=2, batch_size=2)
summary = run_ingest(opts, classifier=tiny_classifier(), report=lambda _m: None)
print(summary.ingested, summary.skipped)
