"""Metamorphic relations: a transformed input whose plan is known from the case's own plan.

The same loads in another exact dtype, or scaled by a power of two, must give the same
assignment; experts permuted (where distinct loads leave no tie to labels) must give the same
objective per layer. Each relation takes the `JudgedCase` and calls the candidate again through
it, so every further output is run through the one invariant checker too.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from verifier.judging.case import JudgedCase
from verifier.judging.quality import layer_objectives
from verifier.model.findings import Finding, observation
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    float32,
    instance_hash,
    num_items,
)
from verifier.model.objectives import exact

RELATIONS: dict[str, str] = {
    "metamorphic.dtype": "the same loads as int64 / float32 / float64 give another assignment",
    "metamorphic.scaling": "scaling every load by a power of two changes the assignment",
    "metamorphic.permutation": "permuting experts with distinct loads changes the objective",
}
FLOAT32_EXACT = 2**24
FLOAT32_MAX = 3.4e38
INT_SCALE_LIMIT = 2**50  # integer loads are scaled up only while they stay exact in float64
SCALE = 4
SEPARATION = Fraction(1, 2**40)  # relative gap that float rounding cannot close


def _relation(case: JudgedCase, check: str, message: str, **details: Any) -> Finding:
    """An observation of the case: a relation it breaks."""
    return observation(
        check, message, function=case.function, instance=case.instance, details=details
    )


# --- dtype ---------------------------------------------------------------------------------------


def exact_dtypes(instance: Instance) -> tuple[str, ...]:
    """The input dtypes that represent every load of the instance exactly."""
    values = [value for row in instance.weights for value in row]
    if all(isinstance(value, int) for value in values):
        peak = max(values, default=0)
        dtypes = ["int64"]
        if peak <= FLOAT32_EXACT:
            dtypes.append("float32")
        if peak <= 2**53:
            dtypes.append("float64")
        return tuple(dtypes)
    floats = [float(value) for value in values]
    if all(float32(value) == value for value in floats):
        return ("float32", "float64")
    return ("float64",)


def dtype_relation(case: JudgedCase) -> list[Finding]:
    """The same loads as int64, float32 and float64 (where exact) give the same assignment."""
    found: list[Finding] = []
    for dtype in exact_dtypes(case.instance):
        if dtype == case.dtype:
            continue
        further = case.call_again(case.instance, dtype=dtype)
        found += further.findings
        if further.outputs is not None and not further.outcome.same_result(case.primary):
            found.append(
                _relation(
                    case,
                    "metamorphic.dtype",
                    f"the same loads as {dtype} give a different assignment than as {case.dtype}",
                    dtype=dtype,
                    primary_dtype=case.dtype,
                )
            )
    return found


# --- scaling -------------------------------------------------------------------------------------


def scaled_instance(instance: Instance) -> tuple[Instance, Fraction] | None:
    """The instance with every load times 4 (or divided by 4), when that is exact; else None."""
    values = [value for row in instance.weights for value in row]
    peak = max(values, default=0)
    if all(isinstance(value, int) for value in values):
        if peak * SCALE > INT_SCALE_LIMIT:
            return None
        factor = Fraction(SCALE)
        rows: list[list[Number]] = [[value * SCALE for value in row] for row in instance.weights]
    elif peak * SCALE < FLOAT32_MAX:
        factor = Fraction(SCALE)
        rows = [[float(value) * SCALE for value in row] for row in instance.weights]
    else:
        factor = Fraction(1, SCALE)
        rows = [[float(value) / SCALE for value in row] for row in instance.weights]
    return replace(instance, weights=rows), factor


def scaling_relation(case: JudgedCase) -> list[Finding]:
    """Scaling every load by a power of two gives the same assignment."""
    scaled = scaled_instance(case.instance)
    if scaled is None:
        return []
    other, factor = scaled
    further = case.call_again(other)
    found = list(further.findings)
    if further.outputs is not None and not further.outcome.same_result(case.primary):
        found.append(
            _relation(
                case,
                "metamorphic.scaling",
                f"scaling every load by {factor} changes the assignment",
                factor=str(factor),
                dtype=case.dtype,
            )
        )
    return found


# --- permutation ---------------------------------------------------------------------------------


def _separated(values: Sequence[Fraction]) -> bool:
    """Pairwise distinct, with relative gaps no float rounding can close."""
    ordered = sorted(values)
    return all(high - low > SEPARATION * high for low, high in itertools.pairwise(ordered))


def _ratios(row: Sequence[Number], slots: int) -> list[Fraction]:
    spare = slots - len(row)
    return [exact(w) / c for w in row for c in range(1, spare + 2)]


def permutation_applies(instance: Instance) -> bool:
    """True when the loads are distinct enough that no tie-break depends on expert labels.

    Packing needs distinct loads; replication distinct loads per replica w/c for every count it
    could reach; rebalance also distinct group loads.
    """
    for row in instance.weights:
        if isinstance(instance, PackingInstance):
            if not _separated([exact(w) for w in row]):
                return False
        elif isinstance(instance, ReplicationInstance):
            if not _separated(_ratios(row, instance.num_phy)):
                return False
        else:
            assert isinstance(instance, RebalanceInstance)
            if not _separated(_ratios(row, instance.num_replicas)):
                return False
            size = len(row) // instance.num_groups
            groups = [
                sum(map(exact, row[g * size : (g + 1) * size]), Fraction(0))
                for g in range(instance.num_groups)
            ]
            if not _separated(groups):
                return False
    return True


def expert_permutation(instance: Instance) -> list[int]:
    """A seeded permutation of the experts: new expert i is old expert perm[i].

    For rebalance it moves whole groups and experts within groups, so the groups stay the same sets.
    """
    rng = random.Random(instance_hash(instance))
    n = num_items(instance)
    if not isinstance(instance, RebalanceInstance):
        return rng.sample(range(n), n)
    size = n // instance.num_groups
    groups = rng.sample(range(instance.num_groups), instance.num_groups)
    return [group * size + offset for group in groups for offset in rng.sample(range(size), size)]


def permuted_instance(instance: Instance, perm: Sequence[int]) -> Instance:
    """The instance with its experts relabelled: new expert i is old expert perm[i]."""
    return replace(instance, weights=[[row[old] for old in perm] for row in instance.weights])


def permutation_relation(case: JudgedCase) -> list[Finding]:
    """Permuting experts with distinct loads leaves every layer's objective unchanged."""
    if not permutation_applies(case.instance):
        return []
    perm = expert_permutation(case.instance)
    other = permuted_instance(case.instance, perm)
    further = case.call_again(other)
    if further.outputs is None:
        return further.findings
    permuted = layer_objectives(case.function, other, further.outputs)
    for layer, (before, after) in enumerate(zip(case.objectives, permuted, strict=True)):
        if before != after:
            return [
                *further.findings,
                _relation(
                    case,
                    "metamorphic.permutation",
                    f"layer {layer}: permuting the experts changes the objective from "
                    f"{float(before):.6g} to {float(after):.6g}",
                    layer=layer,
                    permutation=list(perm),
                    objective=str(before),
                    permuted_objective=str(after),
                ),
            ]
    return further.findings
