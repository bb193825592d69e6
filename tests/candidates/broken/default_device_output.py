"""Bug: an output built from host lists with `torch.tensor(...)` and no `device=`, so it comes
back on the default device. Right on a CPU-only machine; on a GPU deployment the plan for loads
on the GPU comes back on the host. The default-device probe flags it on CPU
(`device.default_output`)."""

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    layers, items = weight.shape
    per_pack = items // num_packs
    packs, ranks = [], []
    for row in weight.double().tolist():
        loads, counts = [0.0] * num_packs, [0] * num_packs
        pack_of, rank_of = [0] * items, [0] * items
        for item in sorted(range(items), key=lambda i: (-row[i], i)):
            pack = min((p for p in range(num_packs) if counts[p] < per_pack), key=loads.__getitem__)
            pack_of[item], rank_of[item] = pack, counts[pack]
            loads[pack] += row[item]
            counts[pack] += 1
        packs.append(pack_of)
        ranks.append(rank_of)
    pack_index = torch.tensor(packs, dtype=torch.int64).reshape(layers, items)
    return pack_index, torch.tensor(ranks, dtype=torch.int64).reshape(layers, items)
