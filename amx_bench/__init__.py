"""amx-bench: AMX against published explanation methods, scored by the same code on the same images.

Benchmarking only: `cli` (the amx-bench console script), `methods` (the registry of AMX presets and
peer methods behind one signature) and `sufficiency` (method-agnostic scores and pass counting). It
builds on amx_core; amx_core and everything else never import it.
"""
