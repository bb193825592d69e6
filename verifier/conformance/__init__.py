"""The conformance suite as pytest items, for other projects' CI.

    python -m pytest --pyargs verifier.conformance --eplb-candidate SPEC \
        [--eplb-api auto|deepseek|vllm|sglang] [--eplb-arrays ...] [--eplb-index-dtype ...]
        [--eplb-returns ...] [--eplb-old-placement ...] [--eplb-max-moves K]
        [--eplb-policy auto|global] [--eplb-budget SECONDS]
        [--eplb-baseline SPEC [--eplb-max-regression R]] [--eplb-sequence N [--eplb-trace FILE]]

collects one item per EPLB function and check family (`FAMILIES`); each fails with the findings of
its family and their reproducer instances. The check runs once per process (a session fixture; one
per xdist worker) with a fixed number of generated cases, so every worker reaches the same verdict.
With `--eplb-sequence N`, one instance of the policy is then driven through N
consecutive calls (`verifier.runs.sequence`); its findings join their families' items. The options
come from the `pytest11` entry point `verifier.conformance.plugin`.
"""

from __future__ import annotations

FAMILIES: dict[str, str] = {
    "behaviour": "the call returns, in time, the right types, deterministically, without mutation",
    "contract": "the outputs satisfy the function's invariants (packing/replication/rebalance)",
    "layers": "each layer is planned on its own loads",
    "incremental": "calls with an old placement keep the contract (vLLM: slots preserved; "
    "the --eplb-max-moves budget)",
    "metamorphic": "dtype, scaling, permutation and device relations (the default-device probe)",
    "quality": "optimality and placement observations (fail only with --eplb-strict); "
    "quality.regression against --eplb-baseline",
}


def family_of(check: str) -> str:
    """The family a check id belongs to."""
    if check == "metamorphic.layer_independence":
        return "layers"
    prefix = check.split(".", 1)[0]
    if prefix in ("packing", "replication", "rebalance"):
        return "contract"
    if prefix in ("optimality", "placement", "quality"):
        return "quality"
    if prefix in ("behaviour", "incremental"):
        return prefix
    if prefix == "migration":  # a declared move budget (--eplb-max-moves)
        return "incremental"
    return "metamorphic"
