"""MoGen-Synth in memory: sequences with SMPL parameters, stage annotations and captions, chunk by chunk.

``iter_synth_chunks`` is the generator's main loop: draw a chunk of sequences, pose them in one batch,
mirror them, write their texts. ``generate_synth`` collects everything (fine for ``tiny`` and ``small``;
``write_synth`` streams ``full`` to disk chunk by chunk instead).

Every random draw comes from a stream derived from the seed and what it is for (the subject, the sequence
and its texts each have their own), so the same configuration gives the same numbers, and turning on an
option (the HumanML3D export, more captions) does not change anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from annotation.model import Annotation, Stage
from mogen_bench.synth.assemble import SmplMotion, assemble, mirror_motions
from mogen_bench.synth.config import SynthConfig, resolve_config
from mogen_bench.synth.heldout import HeldOut
from mogen_bench.synth.sampling import SequenceSpec, sample_sequence
from mogen_bench.synth.subjects import Subject, allocate_sequences, make_subjects
from mogen_bench.synth.texts import mirror_text, motion_caption, stage_texts

#: Order of the arrays in every written ``.npz`` (HuMMan-MoGen's keys).
NPZ_KEYS: tuple[str, ...] = ("betas", "body_pose", "global_orient", "transl")
_SWAPPED_FIELDS = {
    "left_arm": "right_arm",
    "right_arm": "left_arm",
    "left_leg": "right_leg",
    "right_leg": "left_leg",
}


@dataclass(frozen=True)
class SynthMotion:
    """One generated motion: an original ``pXXXXXX_aXXXXXX`` or its mirror ``pXXXXXX_rXXXXXX``."""

    motion_id: str
    split: str
    mirrored: bool
    #: The ``a`` id this motion is (a mirror of).
    source_id: str
    #: float32 ``betas`` (T, 10), ``body_pose`` (T, 69), ``global_orient`` (T, 3), ``transl`` (T, 3).
    params: dict[str, np.ndarray]
    annotation: Annotation
    spec: SequenceSpec
    #: Whole-motion captions (HumanML3D style, lower case), as many as ``captions_per_motion``.
    captions: tuple[str, ...]
    #: The held-out combinations the motion performs, as ``"part:name"`` pairs.
    held_out: tuple[tuple[str, str], ...] = ()

    @property
    def subject_id(self) -> str:
        return self.motion_id.split("_")[0]

    @property
    def num_frames(self) -> int:
        return int(self.params["transl"].shape[0])


@dataclass
class SynthDataset:
    """Everything ``generate_synth`` made, with what ``synth.json`` reports about it."""

    config: SynthConfig
    subjects: list[Subject]
    held_out: HeldOut
    motions: list[SynthMotion] = field(default_factory=list)

    def by_id(self) -> dict[str, SynthMotion]:
        return {m.motion_id: m for m in self.motions}


def plan(config: SynthConfig) -> tuple[list[Subject], list[Subject], HeldOut]:
    """The subjects, the subject performing each sequence, and the held-out combinations."""
    subjects = make_subjects(
        config.num_subjects, config.seed, config.betas_std, (config.min_size, config.max_size)
    )
    return (
        subjects,
        allocate_sequences(subjects, config.num_sequences),
        HeldOut.draw(config.num_held_out, config.seed),
    )


def _annotation(spec: SequenceSpec, fps: float, rng: np.random.Generator) -> Annotation:
    stages, start = [], 0
    for k, stage in enumerate(spec.stages):
        texts = stage_texts(stage, spec.stages[k - 1] if k else None, rng)
        stages.append(Stage(start_frame=start, end_frame=start + stage.num_frames, **texts))
        start += stage.num_frames
    return Annotation(spec.motion_id, tuple(stages), num_frames=start, fps=fps)


def mirror_annotation(annotation: Annotation, motion_id: str) -> Annotation:
    """The mirrored motion's annotation: left and right swap in every text and between the limb fields."""
    stages = []
    for stage in annotation.stages:
        texts = {name: mirror_text(text) if text else text for name, text in stage.texts.items()}
        texts = {_SWAPPED_FIELDS.get(name, name): text for name, text in texts.items()}
        stages.append(stage.with_texts(texts))
    return annotation.replace(motion_id=motion_id, stages=tuple(stages), provenance=None)


def _params(motion: SmplMotion, betas: np.ndarray) -> dict[str, np.ndarray]:
    values = {
        "betas": np.broadcast_to(betas, (len(motion.transl), betas.shape[-1])),
        "body_pose": motion.body_pose,
        "global_orient": motion.global_orient,
        "transl": motion.transl,
    }
    return {key: np.ascontiguousarray(values[key], dtype=np.float32) for key in NPZ_KEYS}


def _held_out_labels(spec: SequenceSpec, held_out: HeldOut) -> tuple[tuple[str, str], ...]:
    found = {c for stage in spec.stages for c in held_out.found_in(stage)}
    return tuple(tuple(f"{p}:{n}" for p, n in c) for c in sorted(found))


def iter_synth_chunks(config: SynthConfig | str | None = None) -> Iterator[list[SynthMotion]]:
    """Lists of motions, ``chunk_size`` sequences (and their mirrors) at a time, in sequence order."""
    config = resolve_config(config)
    _, performers, held_out = plan(config)
    for first in range(0, len(performers), config.chunk_size):
        indices = range(first, min(first + config.chunk_size, len(performers)))
        specs = [
            sample_sequence(config, i, f"{performers[i].subject_id}_a{i + 1:06d}", performers[i], held_out)
            for i in indices
        ]
        motions = assemble(specs)
        mirrors = mirror_motions(motions) if config.mirror else [None] * len(motions)
        chunk: list[SynthMotion] = []
        for i, spec, motion, mirror in zip(indices, specs, motions, mirrors, strict=True):
            subject = spec.subject
            text_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3, i]))
            caption_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4, i]))
            annotation = _annotation(spec, config.fps, text_rng)
            captions = tuple(
                motion_caption(spec.stages, caption_rng) for _ in range(config.captions_per_motion)
            )
            labels = _held_out_labels(spec, held_out)
            chunk.append(
                SynthMotion(
                    spec.motion_id,
                    subject.split,
                    False,
                    spec.motion_id,
                    _params(motion, subject.betas),
                    annotation,
                    spec,
                    captions,
                    labels,
                )
            )
            if mirror is not None:
                mirrored_spec = spec.mirror()
                chunk.append(
                    SynthMotion(
                        mirrored_spec.motion_id,
                        subject.split,
                        True,
                        spec.motion_id,
                        _params(mirror, subject.betas),
                        mirror_annotation(annotation, mirrored_spec.motion_id),
                        mirrored_spec,
                        tuple(mirror_text(c) for c in captions),
                        _held_out_labels(mirrored_spec, held_out),
                    )
                )
        yield chunk


def iter_synth(config: SynthConfig | str | None = None) -> Iterator[SynthMotion]:
    """Every motion, one at a time (originals each followed by its mirror)."""
    for chunk in iter_synth_chunks(config):
        yield from chunk


def generate_synth(config: SynthConfig | str | None = None) -> SynthDataset:
    """The whole dataset in memory (``config`` a ``SynthConfig`` or a preset name; default ``small``)."""
    config = resolve_config(config)
    subjects, _, held_out = plan(config)
    return SynthDataset(config, subjects, held_out, list(iter_synth(config)))
