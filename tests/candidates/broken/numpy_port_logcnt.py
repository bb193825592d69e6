"""Bug (a numpy port with DeepSeek's names and int32 maps): `logcnt` counts only the redundant
replicas, not each expert's first one: `replication.logcnt_count` (called as it is, with numpy
loads; without the numpy arrays axis it would only crash on `.astype`)."""

import numpy as np


def replicate_experts(
    weight: np.ndarray, num_phy: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    layers, num_log = weight.shape
    phy2log = np.tile(np.arange(num_phy, dtype=np.int64) % max(num_log, 1), (layers, 1))
    rank = np.zeros((layers, num_phy), dtype=np.int64)
    counts = np.ones((layers, num_log), dtype=np.int64)
    loads = weight.astype(np.float64)
    rows = np.arange(layers)
    for slot in range(num_log, num_phy):
        best = np.argmax(loads / counts, axis=-1)
        phy2log[:, slot] = best
        rank[:, slot] = counts[rows, best]
        counts[rows, best] += 1
    logcnt = counts - 1  # the redundant replicas only
    return phy2log.astype(np.int32), rank.astype(np.int32), logcnt.astype(np.int32)
