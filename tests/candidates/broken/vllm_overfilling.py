"""Bug (vLLM-style policy class): the packing never closes a full pack, so packs overfill."""

import numpy as np


class OverfillingPolicy:
    @classmethod
    def balanced_packing(cls, weight: np.ndarray, num_packs: int) -> tuple[np.ndarray, np.ndarray]:
        layers, items = weight.shape
        pack_index = np.zeros((layers, items), dtype=np.int64)
        rank_in_pack = np.zeros((layers, items), dtype=np.int64)
        for layer in range(layers):
            loads = np.zeros(num_packs)
            counts = np.zeros(num_packs, dtype=np.int64)
            for item in np.argsort(-weight[layer], kind="stable"):
                pack = int(np.argmin(loads))  # full packs are not masked out
                pack_index[layer, item] = pack
                rank_in_pack[layer, item] = counts[pack]
                loads[pack] += weight[layer, item]
                counts[pack] += 1
        return pack_index, rank_in_pack
