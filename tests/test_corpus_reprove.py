"""Opt-in (tox -e slow): re-prove every recorded optimum of the shipped corpus.

Each proven layer is solved again with the recorded budget and seed: it must be proven again at
the same value, and a recorded "optimal" that the oracle can now beat (or bound above) is an error.
Open layers are not re-solved (the default replay already checks them against today's cheap bound).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from verifier.corpus import default_corpus_dir, load_entry
from verifier.corpus.records import DEFAULT_TIME_LIMIT
from verifier.corpus.store import record_files

FILES = record_files(default_corpus_dir())


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_recorded_optima_are_reproven(path: Path) -> None:
    from verifier.oracle import solve_layer

    entry = load_entry(path)
    proven = [index for index, layer in enumerate(entry.oracle.layers) if layer.proven]
    if not proven:
        pytest.skip("no proven layer in this record")
    limit = entry.oracle.time_limit or DEFAULT_TIME_LIMIT
    for index in proven:
        optimum = entry.oracle.layers[index].objective
        assert optimum is not None
        fresh = solve_layer(entry.instance, index, time_limit=limit, seed=entry.oracle.seed)
        where = f"{path} layer {index}"
        if fresh.status != "unknown":
            assert Fraction(fresh.objective) >= optimum, (
                f"{where}: recorded optimum {optimum} beaten by {fresh.objective}"
            )
        assert Fraction(fresh.bound) <= optimum, f"{where}: bound {fresh.bound} above {optimum}"
        assert fresh.status == "optimal", f"{where}: optimum {optimum} not re-proven"
