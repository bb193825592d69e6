"""A swap-based incremental vLLM-style policy: it only ever adjusts a running placement.

Written for these tests in the style of such policies (not copied). `rebalance_experts` asserts
that `old_global_expert_indices` is given (it is meant for a live cluster), keeps each expert's
replica count, and swaps one replica of the hottest GPU with one of the coolest (within a node
when the hierarchical contract applies) while that lowers the pair's peak, at most `max_swaps`
times per layer (each swap copies two replicas: at most 2 x max_swaps moves). Experts that stay
on a GPU keep their slots, since a swap only rewrites the two slots it exchanges.
"""

import numpy as np
import torch


class SwapEplbPolicy:
    max_swaps = 2  # per layer: at most 4 replica copies (declare --max-moves 4)

    @classmethod
    def _gpu_loads(cls, row: np.ndarray, per_replica: np.ndarray, per_gpu: int) -> np.ndarray:
        return per_replica[row].reshape(-1, per_gpu).sum(axis=-1)

    @classmethod
    def _best_swap(
        cls, row: np.ndarray, per_replica: np.ndarray, per_gpu: int, hot: int, cool: int
    ) -> tuple[int, int] | None:
        """The slot pair (on hot, on cool) whose exchange lowers the pair's peak the most."""
        loads = cls._gpu_loads(row, per_replica, per_gpu)
        hot_slots = range(hot * per_gpu, (hot + 1) * per_gpu)
        cool_slots = range(cool * per_gpu, (cool + 1) * per_gpu)
        best, peak = None, loads[hot]
        for i in hot_slots:
            for j in cool_slots:
                if row[i] in row[cool_slots.start : cool_slots.stop]:
                    continue  # no second replica of an expert on one GPU
                if row[j] in row[hot_slots.start : hot_slots.stop]:
                    continue
                delta = per_replica[row[i]] - per_replica[row[j]]
                new_peak = max(loads[hot] - delta, loads[cool] + delta)
                if new_peak < peak:
                    best, peak = (i, j), new_peak
        return best

    @classmethod
    def _swap_layer(
        cls, weight: np.ndarray, row: np.ndarray, num_ranks: int, gpus_per_node: int
    ) -> np.ndarray:
        row = row.copy()
        per_gpu = len(row) // num_ranks
        per_replica = weight / np.bincount(row, minlength=len(weight))
        for _ in range(cls.max_swaps):
            loads = cls._gpu_loads(row, per_replica, per_gpu)
            hot = int(np.argmax(loads))
            first = hot // gpus_per_node * gpus_per_node
            node = range(first, first + gpus_per_node)
            cool = min(node, key=lambda gpu: (loads[gpu], gpu))
            swap = cls._best_swap(row, per_replica, per_gpu, hot, cool)
            if swap is None:
                break
            i, j = swap
            row[i], row[j] = row[j], row[i]
        return row

    @classmethod
    def _keep_slots(cls, old: np.ndarray, new: np.ndarray, per_gpu: int) -> np.ndarray:
        """Per GPU: an expert that stays keeps its old slot (a swapped-back expert included)."""
        result = new.copy()
        for start in range(0, len(new), per_gpu):
            waiting = list(new[start : start + per_gpu])
            placed: list[int | None] = [None] * per_gpu
            for slot, expert in enumerate(old[start : start + per_gpu]):
                if expert in waiting:
                    waiting.remove(expert)
                    placed[slot] = int(expert)
            result[start : start + per_gpu] = [
                expert if expert is not None else waiting.pop(0) for expert in placed
            ]
        return result

    @classmethod
    def rebalance_experts(
        cls,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_ranks: int,
        old_global_expert_indices: torch.Tensor | None = None,
    ) -> torch.Tensor:
        assert old_global_expert_indices is not None, "an incremental policy needs the placement"
        loads = weight.cpu().numpy().astype(np.float64)
        old = old_global_expert_indices.cpu().numpy()
        gpus_per_node = num_ranks // num_nodes if num_groups % num_nodes == 0 else num_ranks
        per_gpu = num_replicas // num_ranks
        rows = [
            cls._swap_layer(loads[layer], old[layer], num_ranks, gpus_per_node)
            for layer in range(loads.shape[0])
        ]
        phy2log = np.stack([cls._keep_slots(o, r, per_gpu) for o, r in zip(old, rows, strict=True)])
        return torch.from_numpy(phy2log.astype(np.int64))
