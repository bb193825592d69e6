"""Layer independence: each layer is planned on its own loads.

Under DeepSeek's, vLLM's and SGLang's contracts the plan of layer i depends only on layer i's
loads, so for a deterministic candidate the plan of layer i within a batch equals the plan of that
layer alone. A candidate that mixes layers (one layer's plan for all, other layers' loads leaking
in) breaks it: a violation, or an observation with `--allow-cross-layer` (multi-window or stateful
policies that mean to look across layers).
"""

from __future__ import annotations

from typing import Any

from verifier.judging.case import JudgedCase
from verifier.model.findings import Finding, observation, violation
from verifier.model.instances import Instance, num_layers, one_layer

LAYER_CHECKS: dict[str, str] = {
    "metamorphic.layer_independence": "the plan of a layer in a batch differs from its plan alone",
}


def probed_layers(instance: Instance) -> list[int]:
    """The layers planned alone: the last one (one call per case bounds the cost; a candidate that
    reuses one layer's plan for all, or lets other layers' loads leak in, changes it)."""
    layers = num_layers(instance)
    return [] if layers < 2 else [layers - 1]


def _row(outputs: dict[str, Any], name: str, layer: int) -> Any:
    """One layer of one output; log2phy without its -1 padding (its width is batch-wide)."""
    row = outputs[name][layer]
    if name == "log2phy":
        return [[slot for slot in slots if slot != -1] for slots in row]
    return row


def layer_independence(case: JudgedCase, *, allow_cross_layer: bool) -> list[Finding]:
    """Plan probed layers alone and compare them with the case's plan of those layers."""
    found: list[Finding] = []
    make = observation if allow_cross_layer else violation
    instance, outputs = case.instance, case.outputs
    for layer in probed_layers(instance):
        alone = one_layer(instance, layer)
        further = case.call_again(alone, layer_alone=layer)
        found += further.findings
        single = further.outputs
        if single is None:
            continue
        differing = [
            name for name in outputs if _row(outputs, name, layer) != _row(single, name, 0)
        ]
        if differing:
            found.append(
                make(
                    "metamorphic.layer_independence",
                    f"layer {layer}: its plan in this batch of {num_layers(instance)} layers "
                    f"differs from its plan alone ({', '.join(differing)})",
                    function=case.function,
                    instance=instance,
                    layer=layer,
                    details={
                        "dtype": case.dtype,
                        "outputs": differing,
                        "in_batch": {name: _row(outputs, name, layer) for name in differing},
                        "alone": {name: _row(single, name, 0) for name in differing},
                    },
                )
            )
            break
    return found
