"""A vLLM-style default policy: numpy helpers, phy2log-only rebalance, slot preservation."""

import numpy as np
import torch

from .abstract import AbstractEplbPolicy


class GreedyEplbPolicy(AbstractEplbPolicy):
    @classmethod
    def balanced_packing(cls, weight: np.ndarray, num_packs: int) -> tuple[np.ndarray, np.ndarray]:
        layers, items = weight.shape
        per_pack = items // num_packs
        pack_index = np.full((layers, items), -1, dtype=np.int64)
        rank_in_pack = np.full((layers, items), -1, dtype=np.int64)
        for layer in range(layers):
            loads = [0.0] * num_packs
            counts = [0] * num_packs
            # heaviest first; ties by lower index (a stable sort of the negated loads)
            for item in np.argsort(-weight[layer], kind="stable"):
                open_packs = [p for p in range(num_packs) if counts[p] < per_pack]
                pack = min(open_packs, key=lambda p: (loads[p], p))
                pack_index[layer, item] = pack
                rank_in_pack[layer, item] = counts[pack]
                loads[pack] += float(weight[layer, item])
                counts[pack] += 1
        return pack_index, rank_in_pack

    @classmethod
    def replicate_experts(cls, weight: np.ndarray, num_phy: int) -> tuple[np.ndarray, np.ndarray]:
        layers, num_log = weight.shape
        phy2log = np.tile(np.arange(num_phy, dtype=np.int64), (layers, 1))
        logcnt = np.ones((layers, num_log), dtype=np.int64)
        for layer in range(layers):
            for slot in range(num_log, num_phy):
                # exact comparison of w/c by cross-multiplication (no float division)
                best = 0
                for expert in range(1, num_log):
                    left: float = int(weight[layer, expert]) * int(logcnt[layer, best])
                    right: float = int(weight[layer, best]) * int(logcnt[layer, expert])
                    if weight.dtype.kind == "f":
                        left = float(weight[layer, expert]) * float(logcnt[layer, best])
                        right = float(weight[layer, best]) * float(logcnt[layer, expert])
                    if left > right:
                        best = expert
                phy2log[layer, slot] = best
                logcnt[layer, best] += 1
        return phy2log, logcnt

    @classmethod
    def _plan(
        cls, weight: np.ndarray, num_replicas: int, num_groups: int, num_nodes: int, num_ranks: int
    ) -> np.ndarray:
        layers, num_log = weight.shape
        group_size = num_log // num_groups
        groups_per_node = num_groups // num_nodes
        per_node_log = num_log // num_nodes
        per_node_phy = num_replicas // num_nodes
        per_gpu = num_replicas // num_ranks
        gpus_per_node = num_ranks // num_nodes
        group_loads = weight.reshape(layers, num_groups, group_size).sum(axis=-1)
        node_of_group, rank_of_group = cls.balanced_packing(group_loads, num_nodes)
        phy2log = np.empty((layers, num_replicas), dtype=np.int64)
        for layer in range(layers):
            for node in range(num_nodes):
                groups = sorted(
                    (int(rank_of_group[layer, g]), g)
                    for g in range(num_groups)
                    if node_of_group[layer, g] == node
                )
                experts = [g * group_size + k for _, g in groups for k in range(group_size)]
                assert len(experts) == per_node_log and len(groups) == groups_per_node
                loads = weight[layer, experts][None, :]
                local, counts = cls.replicate_experts(loads, per_node_phy)
                per_replica = loads[0, local[0]] / counts[0, local[0]]
                gpu_of, slot_of = cls.balanced_packing(per_replica[None, :], gpus_per_node)
                base = node * per_node_phy
                for replica in range(per_node_phy):
                    slot = base + int(gpu_of[0, replica]) * per_gpu + int(slot_of[0, replica])
                    phy2log[layer, slot] = experts[int(local[0, replica])]
        return phy2log

    @classmethod
    def preserve_slots(cls, phy2log: np.ndarray, num_ranks: int, old: np.ndarray) -> np.ndarray:
        """Per GPU: an expert that stays keeps its old slot; incoming ones fill the rest."""
        if old.shape != phy2log.shape or phy2log.shape[1] % num_ranks:
            return phy2log
        per_gpu = phy2log.shape[1] // num_ranks
        result = phy2log.copy()
        for layer in range(phy2log.shape[0]):
            for gpu in range(num_ranks):
                span = slice(gpu * per_gpu, (gpu + 1) * per_gpu)
                waiting = list(phy2log[layer, span])
                placed: list[int | None] = [None] * per_gpu
                for slot, expert in enumerate(old[layer, span]):
                    if expert in waiting:
                        waiting.remove(expert)
                        placed[slot] = int(expert)
                for slot in range(per_gpu):
                    if placed[slot] is None:
                        placed[slot] = int(waiting.pop(0))
                result[layer, span] = placed
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
        loads = weight.cpu().numpy()
        if num_groups % num_nodes == 0:
            phy2log = cls._plan(loads, num_replicas, num_groups, num_nodes, num_ranks)
        else:
            phy2log = cls._plan(loads, num_replicas, 1, 1, num_ranks)
        if old_global_expert_indices is not None:
            phy2log = cls.preserve_slots(phy2log, num_ranks, old_global_expert_indices.numpy())
        return torch.from_numpy(phy2log)
