"""Bug: moves the last item into the next pack, so two packs get the wrong number of items."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    pack_index = pack_index.clone()
    pack_index[:, -1] = (pack_index[:, -1] + 1) % num_packs
    return pack_index, rank_in_pack
