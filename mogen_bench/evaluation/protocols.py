"""Named, versioned evaluation protocols: the constants a number depends on, written into every result.

A result is comparable with another only under the same protocol id (``name@version``); changing a
constant means a new version, never a silent edit.

- ``t2m@1``: the HumanML3D/KIT-ML protocol of Guo et al. (``text-to-motion/final_evaluations.py``):
  pools of 32 for R-precision top-1/2/3 and MM-Dist, FID against the ground truth, Diversity over 300
  pairs, MultiModality over 100 texts x 30 generations with 10 pairs, 20 replications, 95 % intervals.
  Motions are cropped to at most 196 frames in units of 4 (the T2M loaders' coin toss) and generated at
  their ground-truth lengths (MDM, MoMask).
- ``fine@1``: ``t2m@1`` plus part-level R-precision: for every body part, each generated motion's part
  embedding is ranked against the part texts of its pool (needs a part-aware evaluator).
- ``composition@1``: ``fine@1`` on staged motions generated from their stages, plus
  - per-stage R-precision, FID, Diversity and MultiModality, as PriorMDM scores the intervals of its long
    sequences (``--eval_on motion``): every stage of a multi-stage motion cut out without the handshake
    around each of its boundaries (``stage_handshake`` frames centred on the boundary, as our PriorMDM
    baseline places them) and, if still ``stage_min_frames`` long, scored against its own overall text and
    the ground truth's stages;
  - transition FID and Diversity, as PriorMDM scores its transitions (``--eval_on transition``, with
    text-agnostic metrics only): windows of ``transition_fid_window`` frames centred on every boundary,
    against the same windows of the ground truth (PriorMDM crops random windows of unrelated clips, its
    long sequences chaining random texts; here the real motions have real boundaries);
  - FlowMDM's Peak Jerk and Area Under the Jerk over ``transition_window`` frames at the boundaries.
  The window sizes are PriorMDM's HumanML3D settings at 20 fps: handshake h = 20 and transition window
  h + margins = 20 + 40 = 60 frames (its BABEL ones, 30 and 70 at 30 fps, are the same seconds give or
  take). A window or interval that does not fit in its motion is left out.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, replace

from mogen_bench.errors import MogenBenchError


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    description: str
    replications: int = 20
    pool_size: int = 32
    top_k: int = 3
    diversity_times: int = 300
    mm_num_samples: int = 100
    mm_repeats: int = 30
    mm_times: int = 10
    max_frames: int = 196
    unit_crop: bool = True
    unit_length: int = 4
    #: Motions generated per model call, fixed so the noise a motion gets never depends on the hardware.
    generation_batch: int = 32
    part_level: bool = False
    transitions: bool = False
    #: Frames around a stage boundary in the jerk window (FlowMDM's ``transition_length``; 30 = its BABEL
    #: setting, 1.5 s at 20 fps); boundaries closer than half of it to a motion's ends are left out.
    transition_window: int = 30
    #: Shortest stage interval scored on its own (per-stage metrics of composed motions), handshakes excluded.
    stage_min_frames: int = 20
    #: Frames around each stage boundary that belong to no stage's interval (PriorMDM's handshake, h // 2
    #: before the boundary).
    stage_handshake: int = 20
    #: Frames of the windows centred on the boundaries whose transition FID and Diversity are scored.
    transition_fid_window: int = 60

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def constants(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "version", "description")}

    def with_changes(self, **changes) -> Protocol:
        """A variant (e.g. fewer replications for a quick look); its results say so in ``constants``."""
        constants = self.constants()
        unknown = sorted(set(changes) - set(constants))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(constants), n=1)
            raise MogenBenchError(
                f"protocols have no constant {unknown[0]!r}",
                field="protocol",
                fix=(f"did you mean {close[0]!r}? " if close else "") + f"constants: {', '.join(constants)}",
            )
        for name, value in changes.items():
            kind = type(constants[name])
            # bool is an int in Python: a count given as true, or a flag given as 1, is still refused.
            if type(value) is not kind or (kind is int and value < 0):
                wanted = "true or false" if kind is bool else "a whole number >= 0"
                raise MogenBenchError(
                    f"protocol constant {name} must be {wanted}, got {value!r}",
                    field=f"protocol.{name}",
                    fix=f"e.g. {name}={str(constants[name]).lower()} (the protocol's own value)",
                )
        return replace(self, **changes)


_T2M = Protocol("t2m", 1, "HumanML3D/KIT-ML text-to-motion protocol (Guo et al. 2022), GT lengths")
PROTOCOLS: dict[str, Protocol] = {
    p.id: p
    for p in (
        _T2M,
        replace(_T2M, name="fine", description="t2m@1 plus part-level R-precision", part_level=True),
        replace(
            _T2M,
            name="composition",
            description="fine@1 on staged motions from their stages, plus jerk at stage boundaries",
            part_level=True,
            transitions=True,
        ),
    )
}


def get_protocol(name: str) -> Protocol:
    """A protocol by id (``t2m@1``) or by name alone (the newest version)."""
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    versions = sorted((p for p in PROTOCOLS.values() if p.name == name), key=lambda p: p.version)
    if versions:
        return versions[-1]
    close = difflib.get_close_matches(name, list(PROTOCOLS), n=1)
    raise MogenBenchError(
        f"unknown protocol {name!r}",
        field="protocol",
        fix=(f"did you mean {close[0]!r}? " if close else "") + f"known: {', '.join(PROTOCOLS)}",
    )
