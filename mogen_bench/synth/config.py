"""The MoGen-Synth configuration: one frozen dataclass, its checks, and the tiny / small / full presets.

The configuration is everything that decides the output: the same configuration (seed included) gives
byte-identical files. ``synth.json`` stores it, so a generated folder says how to make it again.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from mogen_bench.errors import MogenBenchError


@dataclass(frozen=True)
class SynthConfig:
    """How much to generate and how (all durations in seconds, all rates in frames per second)."""

    #: Sequences before mirroring (each also gets a mirrored copy when ``mirror`` is set).
    num_sequences: int = 600
    #: Subjects ``p000001 ...``; their ids decide their split (``mogen_bench.data.splits``).
    num_subjects: int = 60
    seed: int = 0
    #: Frame rate of the written SMPL sequences (HuMMan-MoGen's is taken to be 30).
    fps: float = 30.0
    min_stages: int = 1
    max_stages: int = 4
    min_stage_seconds: float = 1.0
    max_stage_seconds: float = 3.0
    #: A stage's pose is blended in from the previous stage's last pose over this long (random in range).
    min_blend_seconds: float = 0.25
    max_blend_seconds: float = 0.5
    #: Part combinations drawn as held out (then closed under mirroring): they occur only in test subjects.
    num_held_out: int = 8
    #: Share of test sequences in which one stage is made to perform a held-out combination.
    held_out_rate: float = 0.5
    #: Also write the mirrored copy ``pXXXXXX_rXXXXXX`` of every sequence.
    mirror: bool = True
    #: Also write a HumanML3D-layout folder (``humanml3d/``) of the same motions.
    humanml3d: bool = False
    #: Whole-motion captions per motion in the HumanML3D folder.
    captions_per_motion: int = 3
    #: Each subject's size (bone-length scale, 1 = the neutral skeleton) is uniform in [min_size, max_size];
    #: it is beta 0 of the synthetic SMPL model's shape space (``subjects``).
    min_size: float = 0.85
    max_size: float = 1.15
    #: Standard deviation of the per-subject random SMPL betas 1 and 2 (proportions: taller, wider; betas
    #: 3-9 get a fifth of it; beta 0 is the size).
    betas_std: float = 0.5
    #: Sequences posed together in one batched forward-kinematics call (memory grows with it).
    chunk_size: int = 256

    def replace(self, **changes) -> SynthConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MogenBenchError(
                f"unknown MoGen-Synth setting {unknown[0]!r}",
                field=unknown[0],
                fix=f"use only {', '.join(sorted(known))}",
            )
        return cls(**values).validate()

    def validate(self) -> SynthConfig:
        """Return ``self`` if every value makes sense, else raise ``MogenBenchError`` naming the field."""
        for f in fields(self):
            value = getattr(self, f.name)
            expected = bool if f.type == "bool" else int if f.type == "int" else float
            ok = (
                isinstance(value, bool)
                if expected is bool
                else isinstance(value, int) and not isinstance(value, bool)
                if expected is int
                else isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            )
            if not ok:
                raise MogenBenchError(
                    f"{f.name} must be {'a finite number' if expected is float else expected.__name__}, "
                    f"got {value!r}",
                    field=f.name,
                    fix=f"set {f.name} to a value like {getattr(SynthConfig, f.name)!r}",
                )
        _at_least(self, "num_sequences", 1)
        _at_least(self, "num_subjects", 1)
        _at_least(self, "seed", 0)
        _at_least(self, "min_stages", 1)
        _at_least(self, "max_stages", self.min_stages, "min_stages")
        _at_least(self, "num_held_out", 0)
        _at_least(self, "captions_per_motion", 1)
        _at_least(self, "chunk_size", 1)
        if self.fps <= 0:
            raise MogenBenchError(f"fps must be positive, got {self.fps}", field="fps", fix="use e.g. 30")
        if self.min_stage_seconds * self.fps < 8:
            raise MogenBenchError(
                f"a stage of {self.min_stage_seconds} s has fewer than 8 frames at {self.fps} fps",
                field="min_stage_seconds",
                fix="use longer stages or a higher fps",
            )
        if self.max_stage_seconds < self.min_stage_seconds:
            raise MogenBenchError(
                f"max_stage_seconds ({self.max_stage_seconds}) is below min_stage_seconds "
                f"({self.min_stage_seconds})",
                field="max_stage_seconds",
                fix="make max_stage_seconds >= min_stage_seconds",
            )
        if not 0 <= self.min_blend_seconds <= self.max_blend_seconds:
            raise MogenBenchError(
                f"blend seconds must satisfy 0 <= min ({self.min_blend_seconds}) <= max "
                f"({self.max_blend_seconds})",
                field="min_blend_seconds",
                fix="use e.g. min_blend_seconds=0.25, max_blend_seconds=0.5",
            )
        if not 0 <= self.held_out_rate <= 1:
            raise MogenBenchError(
                f"held_out_rate must be in [0, 1], got {self.held_out_rate}",
                field="held_out_rate",
                fix="use a share such as 0.5",
            )
        if self.betas_std < 0:
            raise MogenBenchError(
                f"betas_std must be >= 0, got {self.betas_std}", field="betas_std", fix="use e.g. 0.5"
            )
        if not 0.5 <= self.min_size <= self.max_size <= 2.0:
            raise MogenBenchError(
                f"subject sizes must satisfy 0.5 <= min_size ({self.min_size}) <= max_size "
                f"({self.max_size}) <= 2",
                field="min_size" if not 0.5 <= self.min_size <= 2.0 else "max_size",
                fix="use e.g. min_size=0.85, max_size=1.15 (equal values give every subject that size)",
            )
        from mogen_bench.synth.heldout import candidate_combinations

        available = len(candidate_combinations())
        if self.num_held_out > available // 2:
            raise MogenBenchError(
                f"num_held_out is {self.num_held_out}, but only {available} combinations exist",
                field="num_held_out",
                fix=f"hold out at most {available // 2} (a few, e.g. 8, keep training varied)",
            )
        return self


def _at_least(config: SynthConfig, name: str, low: int, low_name: str | None = None) -> None:
    value = getattr(config, name)
    if value < low:
        bound = f"{low_name} ({low})" if low_name else str(low)
        raise MogenBenchError(
            f"{name} must be at least {bound}, got {value}", field=name, fix=f"set {name} >= {low}"
        )


#: Ready-made sizes. ``tiny`` feeds the 3-minute CPU quickstart; ``full`` has HuMMan-MoGen's scale
#: (6,264 sequences of 179 subjects); ``small`` sits between for experiments.
SYNTH_PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(num_sequences=48, num_subjects=30),
    "small": SynthConfig(num_sequences=600, num_subjects=60),
    "full": SynthConfig(num_sequences=6000, num_subjects=179),
}


def resolve_config(config: SynthConfig | str | None) -> SynthConfig:
    """A config, or a preset name (``tiny``, ``small``, ``full``), checked."""
    if config is None:
        config = "small"
    if isinstance(config, str):
        try:
            config = SYNTH_PRESETS[config]
        except KeyError:
            raise MogenBenchError(
                f"unknown MoGen-Synth preset {config!r}",
                field="preset",
                fix=f"use one of {', '.join(SYNTH_PRESETS)}, or pass a SynthConfig",
            ) from None
    if not isinstance(config, SynthConfig):
        raise MogenBenchError(
            f"expected a SynthConfig or a preset name, got {type(config).__name__}",
            field="config",
            fix="pass SynthConfig(...) or one of " + ", ".join(SYNTH_PRESETS),
        )
    return config.validate()
