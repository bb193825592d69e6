"""Right on every device, but the default-device probe cannot run it (written for these tests).

The greedy packing keeps its pack loads in a scratch tensor on the default device (the host on
any deployment) and reads them with `.item()`; the outputs are built on the host and moved to
the input's device. On `meta` the scratch tensor has no data, so `.item()` fails: the probe
counts every case as inconclusive, and the run passes (exit 0).
"""

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    layers, items = weight.shape
    per_pack = items // num_packs
    packs, ranks = [], []
    for row in weight.double().tolist():
        loads = torch.zeros(num_packs, dtype=torch.float64)  # host scratch: the default device
        counts = [0] * num_packs
        pack_of, rank_of = [0] * items, [0] * items
        for item in sorted(range(items), key=lambda i: (-row[i], i)):
            open_packs = [p for p in range(num_packs) if counts[p] < per_pack]
            pack = min(open_packs, key=lambda p: (loads[p].item(), p))
            pack_of[item], rank_of[item] = pack, counts[pack]
            loads[pack] += row[item]
            counts[pack] += 1
        packs.append(pack_of)
        ranks.append(rank_of)
    pack_index = torch.tensor(packs, dtype=torch.int64, device=weight.device)
    rank_in_pack = torch.tensor(ranks, dtype=torch.int64, device=weight.device)
    return pack_index.reshape(layers, items), rank_in_pack.reshape(layers, items)
