"""amx_core's console scripts: amx-explain (explain.py) and amx-train-masker (train_masker.py). Each parses
its options, calls the library and turns its errors into one line and an exit code (`errors.run_cli`)."""
