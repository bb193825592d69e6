"""Bug: the greedy balances only the heavier three quarters of the items; the lightest quarter
fills the packs in index order. Valid packs, a little worse than greedy: an observation only.
"""

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    layers, n = weight.shape
    capacity = n // num_packs
    balanced = n - n // 4  # the heaviest items, placed greedily
    pack_index = torch.empty(layers, n, dtype=torch.int64, device=weight.device)
    rank_in_pack = torch.empty(layers, n, dtype=torch.int64, device=weight.device)
    for layer in range(layers):
        order = torch.sort(weight[layer].double(), descending=True, stable=True).indices.tolist()
        loads = [0.0] * num_packs
        counts = [0] * num_packs
        for position, item in enumerate(order):
            open_packs = [p for p in range(num_packs) if counts[p] < capacity]
            if position < balanced:
                pack = min(open_packs, key=lambda p: (loads[p], p))
            else:
                pack = open_packs[0]
            pack_index[layer, item] = pack
            rank_in_pack[layer, item] = counts[pack]
            counts[pack] += 1
            loads[pack] += float(weight[layer, item])
    return pack_index, rank_in_pack
