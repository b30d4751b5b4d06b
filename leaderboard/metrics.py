"""What the leaderboard knows about each metric: its direction, its column label and its place in a table.

Directions follow the T2M convention of ``eval_protocol.md`` section 6 (the HumanML3D state-of-the-art
table): R-precision and MultiModality higher is better (↑); FID, MM-Dist, the transition jerk, foot
skating and ground penetration lower is better (↓); Diversity (of whole motions, stages or transition
windows) is best *closest to the real motions'* value (→), because a generator can raise it with noise.
FineMoGen's Tables 1-2 print Diversity↑, its Table 3 Diversity→; every table here ranks by →, against the
board's "Real motions" row (a board without one leaves Diversity unranked).
"""

from __future__ import annotations

HIGHER, LOWER, CLOSER = "higher", "lower", "closer"
#: GMD's foot skating ratio and the mean ground penetration: physical errors, lower is better.
_PHYSICAL = ("foot_skating_ratio", "ground_penetration")
ARROWS = {HIGHER: "↑", LOWER: "↓", CLOSER: "→"}

#: Canonical body-part order of part-level metrics (DESIGN.md).
PARTS = ("head", "spine", "left_arm", "right_arm", "left_leg", "right_leg", "trajectory")

#: Column order of the metrics a protocol writes (part metrics sit after MultiModality, by part).
_ORDER = (
    "R_precision_top1",
    "R_precision_top2",
    "R_precision_top3",
    "FID",
    "MM_Dist",
    "Diversity",
    "MultiModality",
    "part_R_precision_top1",
    "stage_R_precision_top1",
    "stage_R_precision_top3",
    "stage_FID",
    "stage_Diversity",
    "stage_MultiModality",
    "transition_FID",
    "transition_Diversity",
    "transition_peak_jerk",
    "transition_AUJ",
    "foot_skating_ratio",
    "ground_penetration",
)

_LABELS = {
    "R_precision_top1": "Top-1",
    "R_precision_top2": "Top-2",
    "R_precision_top3": "Top-3",
    "FID": "FID",
    "MM_Dist": "MM-Dist",
    "Diversity": "Diversity",
    "MultiModality": "MModality",
    "stage_R_precision_top1": "Stage Top-1",
    "stage_R_precision_top3": "Stage Top-3",
    "stage_FID": "Stage FID",
    "stage_Diversity": "Stage Diversity",
    "stage_MultiModality": "Stage MModality",
    "transition_FID": "Transition FID",
    "transition_Diversity": "Transition Diversity",
    "transition_peak_jerk": "Peak jerk",
    "transition_AUJ": "AUJ",
    "foot_skating_ratio": "Skating",
    "ground_penetration": "Penetration",
}


def direction(metric: str) -> str:
    """``higher``, ``lower`` or ``closer`` (to the real motions) for a metric name."""
    if metric.endswith("Diversity"):  # Diversity, stage_Diversity, transition_Diversity
        return CLOSER
    if "FID" in metric or metric == "MM_Dist" or metric.startswith("transition_") or metric in _PHYSICAL:
        return LOWER
    return HIGHER


def arrow(metric: str) -> str:
    return ARROWS[direction(metric)]


def label(metric: str) -> str:
    """A short column label: ``Top-1``, ``FID``, ``Part Top-1 (left arm)`` ..."""
    base, _, part = metric.partition("/")
    if part:
        name = "Part Top-1" if base == "part_R_precision_top1" else _LABELS.get(base, base)
        return f"{name} ({part.replace('_', ' ')})"
    return _LABELS.get(metric, metric)


def sort_key(metric: str) -> tuple:
    base, _, part = metric.partition("/")
    rank = _ORDER.index(base) if base in _ORDER else len(_ORDER)
    part_rank = PARTS.index(part) if part in PARTS else len(PARTS)
    return (rank, part_rank, metric)


def ordered(metrics) -> list[str]:
    """``metrics`` (any iterable of names) in table order, without duplicates."""
    return sorted(set(metrics), key=sort_key)
