"""API profiles: how the harness calls a candidate and reads back what it returns.

Three families of EPLB code exist in the wild, all descended from DeepSeek's `eplb.py`:

- `deepseek`: module-level functions with DeepSeek's positional signatures returning int64 torch
  tensors (also older vLLM and SGLang copies);
- `vllm`: a policy class (classmethods, or methods of an instance made with no arguments) with numpy
  helpers, `replicate_experts` returning `(phy2log, logcnt)`, `rebalance_experts(weight,
  num_replicas, num_groups, num_nodes, num_ranks, old_global_expert_indices=None)` returning the
  triple or phy2log only;
- `sglang`: `rebalance_experts(tokens_per_expert [steps, layers, experts], num_physical_experts,
  num_local_physical_experts, num_groups, num_nodes, enable_hierarchical)` returning int32 maps.

Beyond the naming, a profile has independent axes per function (`axes`: arrays torch / numpy,
index dtype int64 / declared int32, return form, old placement none / optional / required),
detected under `auto` (`axis_detection`, `probe_call`) or overridden (`--arrays`, ...); the
profile string the sandbox gets carries them (`deepseek,arrays=numpy,index_dtype=int32`).

A profile is picked in the sandbox worker (`auto` detects it from the candidate's shape and
parameter names); every call is built and its result adapted there, so the parent only ever sees
DeepSeek-contract outputs plus a record of what was adapted (`CallOutcome.adapted`).
"""

from __future__ import annotations

from typing import Literal

Api = Literal["auto", "deepseek", "vllm", "sglang"]
API_CHOICES: tuple[str, ...] = ("auto", "deepseek", "vllm", "sglang")
PROFILES: tuple[str, ...] = ("deepseek", "vllm", "sglang")
