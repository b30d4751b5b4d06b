"""The metric functions of the evaluation protocol, one module per metric family.

- ``fid``: FID (``activation_statistics``, ``frechet_distance``, ``fid``; ``fid_statistics`` once for the
  ground truth, then ``fid_from_statistics`` per replication);
- ``retrieval``: R-precision top-1/2/3 and MM-Dist in pools of 32 (``retrieval_metrics``);
- ``diversity``: Diversity (300 pairs) and MultiModality (10 pairs per text);
- ``statistics``: mean and 95% interval over replications;
- ``transitions``: FlowMDM's Peak Jerk and Area Under the Jerk at stage boundaries;
- ``physical``: foot skating ratio and ground penetration.

Each function takes numpy arrays or torch tensors, computes in float64, refuses NaN input with the rows
named, and says in its docstring which published function it reproduces (``EricGuo5513/text-to-motion``'s
``utils/metrics.py`` for the HumanML3D protocol, FlowMDM and GMD for the rest).
"""

from mogen_bench.metrics.diversity import (
    DIVERSITY_TIMES,
    MULTIMODALITY_TIMES,
    diversity,
    diversity_legacy,
    multimodality,
    multimodality_legacy,
)
from mogen_bench.metrics.fid import (
    FIDStatistics,
    activation_statistics,
    fid,
    fid_from_statistics,
    fid_statistics,
    frechet_distance,
)
from mogen_bench.metrics.physical import GMD_FEET, GroundPenetration, foot_skating_ratio, ground_penetration
from mogen_bench.metrics.retrieval import (
    POOL_SIZE,
    TOP_K,
    RetrievalMetrics,
    mm_dist,
    pool_distances,
    r_precision,
    retrieval_metrics,
)
from mogen_bench.metrics.statistics import (
    Z_95,
    ReplicationStatistics,
    mean_and_interval,
    replication_statistics,
)
from mogen_bench.metrics.transitions import (
    DEFAULT_WINDOW,
    FLOWMDM_GT_MEAN_JERK,
    FLOWMDM_TRANSITION_LENGTH,
    TransitionJerk,
    frame_jerk,
    mean_jerk,
    peak_jerk_and_auj,
    transition_jerk,
    transition_windows,
)

__all__ = [
    "DEFAULT_WINDOW",
    "DIVERSITY_TIMES",
    "FLOWMDM_GT_MEAN_JERK",
    "FLOWMDM_TRANSITION_LENGTH",
    "GMD_FEET",
    "MULTIMODALITY_TIMES",
    "POOL_SIZE",
    "TOP_K",
    "Z_95",
    "FIDStatistics",
    "GroundPenetration",
    "ReplicationStatistics",
    "RetrievalMetrics",
    "TransitionJerk",
    "activation_statistics",
    "diversity",
    "diversity_legacy",
    "fid",
    "fid_from_statistics",
    "fid_statistics",
    "foot_skating_ratio",
    "frame_jerk",
    "frechet_distance",
    "ground_penetration",
    "mean_and_interval",
    "mean_jerk",
    "mm_dist",
    "multimodality",
    "multimodality_legacy",
    "peak_jerk_and_auj",
    "pool_distances",
    "r_precision",
    "replication_statistics",
    "retrieval_metrics",
    "transition_jerk",
    "transition_windows",
]
