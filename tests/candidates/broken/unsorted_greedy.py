"""Bug: the greedy forgets to sort items heaviest first (valid packs, but label-dependent)."""

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    layers, n = weight.shape
    capacity = n // num_packs
    pack_index = torch.empty(layers, n, dtype=torch.int64, device=weight.device)
    rank_in_pack = torch.empty(layers, n, dtype=torch.int64, device=weight.device)
    for layer in range(layers):
        loads = [0.0] * num_packs
        counts = [0] * num_packs
        for item in range(n):
            open_packs = [p for p in range(num_packs) if counts[p] < capacity]
            pack = min(open_packs, key=lambda p: loads[p])
            pack_index[layer, item] = pack
            rank_in_pack[layer, item] = counts[pack]
            counts[pack] += 1
            loads[pack] += float(weight[layer, item])
    return pack_index, rank_in_pack
