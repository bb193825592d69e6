"""Noise-free quality observations: judged on the loads the candidate was given."""

from __future__ import annotations

from fractions import Fraction

import torch

from reference import replicate_experts
from verifier.judging.precision import distinct_digits, given_loads, within_rounding
from verifier.judging.quality import replication_optimality
from verifier.model.instances import ReplicationInstance

# Two loads that float32 rounds to the same value (25165824): a correct candidate handed float32
# sees a tie and may give the extra replica to either expert.
NEAR_TIE = ReplicationInstance([[25165824.9, 25165825.0]], 3)


def _reference_outputs(instance: ReplicationInstance) -> dict[str, list[list[int]]]:
    weight = torch.tensor(instance.weights, dtype=torch.float32)
    phy2log, rank, logcnt = replicate_experts(weight, instance.num_phy)
    return {"phy2log": phy2log.tolist(), "rank": rank.tolist(), "logcnt": logcnt.tolist()}


def test_the_old_false_observation_is_reproduced_on_unrounded_loads() -> None:
    # Judged on the Python floats (what the harness did before), the tie-break looks like a loss.
    found = replication_optimality(
        "replicate_experts", NEAR_TIE, _reference_outputs(NEAR_TIE), "auto"
    )
    assert [finding.check for finding in found] == ["optimality.replication"]
    assert float(found[0].details["relative_excess"]) < 1e-8


def test_no_observation_on_the_float32_loads_the_candidate_was_given() -> None:
    outputs = _reference_outputs(NEAR_TIE)
    assert (
        replication_optimality("replicate_experts", NEAR_TIE, outputs, "auto", dtype="float32")
        == []
    )


def test_a_real_excess_is_still_observed_with_digits_that_show_it() -> None:
    instance = ReplicationInstance([[6, 3]], 3)
    outputs = {"phy2log": [[0, 1, 1]], "rank": [[0, 0, 1]], "logcnt": [[1, 2]]}  # 6/1 vs optimum 3
    (found,) = replication_optimality("replicate_experts", instance, outputs, "auto", dtype="int64")
    assert "max load per replica 6 exceeds the optimum 3" in found.message


def test_given_loads_are_the_dtype_rounded_values() -> None:
    float32_tenth = Fraction(float(torch.tensor(0.1, dtype=torch.float32)))
    assert given_loads([25165825.0, 0.1], "float32") == [Fraction(25165824), float32_tenth]
    assert given_loads([25165825], "int64") == [Fraction(25165825)]


def test_tolerance_is_tied_to_the_dtype() -> None:
    assert within_rounding(Fraction(1, 2**23), "float32")
    assert not within_rounding(Fraction(1, 2**23), "int64")
    assert not within_rounding(Fraction(1, 2**23), "float64")
    assert not within_rounding(Fraction(1, 1000), "float32")


def test_distinct_digits_show_a_real_difference() -> None:
    assert distinct_digits(Fraction(25165825), Fraction(251658249, 10)) == (
        "25165825",
        "25165824.9",
    )
    assert distinct_digits(Fraction(6), Fraction(3)) == ("6", "3")
