"""Drawing sequences: how many stages, how long, and which primitive every part performs in each.

Every sequence draws from its own random stream, ``SeedSequence([seed, 0, index])``, so neither the
batching nor the order of generation changes a sequence. The rules:

- the trajectory is drawn first; walking, side-stepping, turning, jumping and squatting fix both legs
  (``catalogue.COUPLED_LEGS``); standing leaves one leg free for a step, kick or knee lift;
- head, spine and arms are drawn independently (sometimes both arms do the same thing);
- a held pose (arm raised, head turned, ...) is not repeated in the next stage, where it would not move;
- pairs that would contradict their texts (``catalogue.INCOMPATIBLE``) are drawn again;
- train and val stages never perform a held-out combination; a share of test sequences is made to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from annotation.parts import PARTS
from mogen_bench.synth.catalogue import (
    CATALOGUE,
    COUPLED_LEGS,
    DIRECTIONS,
    FREE_LEG_PRIMITIVES,
    NEUTRAL,
    PART_KIND,
    Primitive,
    StageSpec,
    compatible,
    is_held,
    stage_spec,
)
from mogen_bench.synth.config import SynthConfig
from mogen_bench.synth.heldout import HeldOut
from mogen_bench.synth.primitives import timing
from mogen_bench.synth.subjects import Subject

#: How often a stage's trajectory is each primitive.
TRAJECTORY_WEIGHTS: dict[str, float] = {
    "stand": 0.40,
    "walk": 0.18,
    "side_step": 0.10,
    "turn": 0.12,
    "jump": 0.10,
    "squat": 0.10,
}
#: Chance that a free part does nothing in a stage.
NEUTRAL_CHANCE: dict[str, float] = {"head": 0.4, "spine": 0.5, "arm": 0.35}
#: Chance that both arms do the same thing (alternating where that is natural).
BOTH_ARMS_CHANCE = 0.25
#: Chance that a standing subject moves one leg (a step, a kick, a knee lift).
FREE_LEG_CHANCE = 0.5
_ALTERNATING = {"swing", "punch"}
_MAX_TRIES = 50


@dataclass(frozen=True)
class SequenceSpec:
    """A sequence to generate: its id, its subject, and its stages."""

    motion_id: str
    subject: Subject
    stages: tuple[StageSpec, ...]
    mirrored: bool = False
    fps: float = 30.0

    @property
    def num_frames(self) -> int:
        return sum(s.num_frames for s in self.stages)

    def mirror(self) -> SequenceSpec:
        """The spec of the mirrored copy ``pXXXXXX_rXXXXXX``."""
        subject, kind, action = self.motion_id.partition("_")[0], self.motion_id[8], self.motion_id[9:]
        other = "r" if kind == "a" else "a"
        return replace(
            self,
            motion_id=f"{subject}_{other}{action}",
            stages=tuple(s.mirrored() for s in self.stages),
            mirrored=not self.mirrored,
        )


def sample_sequence(
    config: SynthConfig, index: int, motion_id: str, subject: Subject, held_out: HeldOut
) -> SequenceSpec:
    """Draw sequence number ``index`` (its random stream) for ``subject``."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0, index]))
    num_stages = int(rng.integers(config.min_stages, config.max_stages + 1))
    low = int(np.ceil(config.min_stage_seconds * config.fps))
    high = int(np.floor(config.max_stage_seconds * config.fps))
    is_test = subject.split == "test"
    forced_stage, forced = -1, None
    if is_test and held_out.combinations and rng.random() < config.held_out_rate:
        forced_stage = int(rng.integers(num_stages))
        forced = dict(held_out.combinations[int(rng.integers(len(held_out.combinations)))])
    stages: list[StageSpec] = []
    for k in range(num_stages):
        frames = int(rng.integers(low, high + 1))
        blend = rng.uniform(config.min_blend_seconds, config.max_blend_seconds) * config.fps
        blend_frames = int(min(round(blend), frames // 3))
        stages.append(
            sample_stage(
                rng,
                subject,
                frames / config.fps,
                frames,
                blend_frames,
                previous=stages[-1] if stages else None,
                forced=forced if k == forced_stage else None,
                upcoming=forced if k + 1 == forced_stage else None,
                avoid=None if is_test else held_out,
            )
        )
    return SequenceSpec(motion_id, subject, tuple(stages), fps=config.fps)


def sample_stage(
    rng: np.random.Generator,
    subject: Subject,
    seconds: float,
    num_frames: int,
    blend_frames: int,
    *,
    previous: StageSpec | None = None,
    forced: dict[str, str] | None = None,
    upcoming: dict[str, str] | None = None,
    avoid: HeldOut | None = None,
) -> StageSpec:
    """One stage; ``forced`` fixes some parts' primitive names, ``avoid`` rejects held-out combinations.

    ``upcoming`` names the primitives the next stage is forced to perform, so this stage does not already
    hold one of those poses.
    """
    draw = _StageDraw(rng, subject, seconds, previous, forced or {}, upcoming or {})
    for _ in range(_MAX_TRIES):
        primitives = draw.primitives()
        if not compatible(primitives):
            continue
        stage = stage_spec(num_frames, primitives, blend_frames)
        if avoid is None or not avoid.found_in(stage):
            return stage
    # Practically unreachable (a held-out pair has a few percent chance per stage); stand still instead.
    neutral = {part: Primitive(NEUTRAL[PART_KIND[part]]) for part in PARTS}
    return stage_spec(num_frames, neutral, blend_frames)


class _StageDraw:
    """The draws of one stage's primitives, sharing the stage's length, subject and predecessor."""

    def __init__(self, rng, subject: Subject, seconds: float, previous, forced: dict, upcoming: dict):
        self.rng, self.style, self.seconds = rng, subject.style, seconds
        self.previous, self.forced, self.upcoming = previous, forced, upcoming

    def primitives(self) -> dict[str, Primitive]:
        out: dict[str, Primitive] = {}
        trajectory = self._part("trajectory", self._trajectory_name)
        out["trajectory"] = trajectory
        out.update(self._legs(trajectory))
        out["head"] = self._part("head", lambda: self._free_name("head"))
        out["spine"] = self._part("spine", lambda: self._free_name("spine"))
        out["left_arm"] = self._part("left_arm", lambda: self._free_name("arm"))
        if "right_arm" not in self.forced and self.rng.random() < BOTH_ARMS_CHANCE:
            left = out["left_arm"]
            if left.name != "rest" and not self._repeats("right_arm", left.name):
                phase = 0.5 if left.name in _ALTERNATING else 0.0
                out["right_arm"] = replace(left, phase=phase)
        if "right_arm" not in out:
            out["right_arm"] = self._part("right_arm", lambda: self._free_name("arm"))
        return out

    # -- names

    def _trajectory_name(self) -> str:
        names = list(TRAJECTORY_WEIGHTS)
        weights = np.array([TRAJECTORY_WEIGHTS[n] for n in names])
        return names[int(self.rng.choice(len(names), p=weights / weights.sum()))]

    def _free_name(self, kind: str) -> str:
        if self.rng.random() < NEUTRAL_CHANCE[kind]:
            return NEUTRAL[kind]
        active = CATALOGUE[kind][1:]
        return active[int(self.rng.integers(len(active)))]

    def _repeats(self, part: str, name: str) -> bool:
        """Would ``name`` hold the pose the part holds at the end of the previous stage (or must take in the
        next one)?"""
        if not is_held(part, Primitive(name)):
            return False
        return (self.previous is not None and self.previous[part].name == name) or self.upcoming.get(
            part
        ) == name

    def _part(self, part: str, draw_name) -> Primitive:
        if part in self.forced:
            return self._parameters(part, self.forced[part])
        for _ in range(10):
            name = draw_name()
            if not self._repeats(part, name):
                return self._parameters(part, name)
        return self._parameters(part, NEUTRAL[PART_KIND[part]])

    # -- parameters

    def _parameters(self, part: str, name: str, **fixed) -> Primitive:
        kind = PART_KIND[part]
        directions = DIRECTIONS.get((kind, name))
        direction = directions[int(self.rng.integers(len(directions)))] if directions else None
        amplitude = float(np.clip(self.rng.random() * self.style.amplitude, 0.0, 1.0))
        count, speed = self._repetitions(kind, name)
        values = {"direction": direction, "amplitude": amplitude, "count": count, "speed": speed}
        values.update(fixed)
        return Primitive(name, **values)

    def _repetitions(self, kind: str, name: str) -> tuple[int, float]:
        """A whole number of repetitions for the stage, near the subject's tempo."""
        t = timing(kind, name)
        if t.kind == "periodic":
            frequency = self.rng.uniform(t.low, t.high) * self.style.tempo
            count = max(1, round(frequency * self.seconds))
        elif t.kind == "pulse":
            # Each repetition takes between low and high seconds (at the subject's tempo) where the stage
            # allows, so a long stage repeats a movement rather than stretching it.
            low, high = t.low / self.style.tempo, t.high / self.style.tempo
            fewest = max(1, int(np.ceil(self.seconds / high)))
            most = max(fewest, int(self.seconds // low))
            duration = self.rng.uniform(low, high)
            count = int(np.clip(round(self.seconds / duration), fewest, most))
        else:
            return 1, 0.0
        return count, count / self.seconds

    def _legs(self, trajectory: Primitive) -> dict[str, Primitive]:
        coupled = COUPLED_LEGS.get(trajectory.name)
        if coupled is not None:
            if coupled == "turn_step":
                count, speed = self._repetitions("leg", "turn_step")
            else:
                count, speed = trajectory.count, trajectory.speed
            shared = {"direction": trajectory.direction, "amplitude": trajectory.amplitude}
            shared.update(count=count, speed=speed)
            # Which leg moves first: the turning side's in a turn, either one when walking.
            if coupled == "turn_step":
                lead = "left_leg" if trajectory.direction == "left" else "right_leg"
            else:
                lead = ("left_leg", "right_leg")[int(self.rng.integers(2))]
            alternating = coupled in ("walk", "turn_step")
            return {
                leg: Primitive(coupled, phase=0.5 if alternating and leg != lead else 0.0, **shared)
                for leg in ("left_leg", "right_leg")
            }
        legs = {"left_leg": Primitive("stand"), "right_leg": Primitive("stand")}
        if self.rng.random() < FREE_LEG_CHANCE:
            leg = ("left_leg", "right_leg")[int(self.rng.integers(2))]
            name = FREE_LEG_PRIMITIVES[int(self.rng.integers(len(FREE_LEG_PRIMITIVES)))]
            legs[leg] = self._parameters(leg, name)
        return legs
