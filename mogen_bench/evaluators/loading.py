"""``load_evaluator(path)``: the frozen embedding model behind the metrics, from whatever the user points at.

Two kinds of evaluator load from a path:

- a run folder of ``mogen-bench train evaluator`` (``config.json`` + ``checkpoints/``), or one of its
  checkpoint files: the contrastive evaluator, with the run's normalisation statistics (``load_run``);
- the published T2M evaluator: ``finest.tar`` or any folder of the official ``checkpoints/`` tree that
  holds it, its statistics (``meta/mean.npy`` / ``std.npy`` beside it in the official tree, or
  ``meta_dir``), and the GloVe folder (``our_vab_*``: ``glove_dir``, else a ``glove/`` folder beside the
  ``checkpoints/`` tree, where the official download scripts put it), wrapped in
  ``T2MEmbeddingEvaluator``.

Both come back frozen (eval mode, no gradients) behind the ``EmbeddingEvaluator`` interface. With
``dataset_info`` (a ``DatasetInfo``), the evaluator must read that dataset's representation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError
from mogen_bench.evaluators.interface import EmbeddingEvaluator

#: What a path must be, for the error messages.
_WHAT = (
    "a run folder of `mogen-bench train evaluator` (config.json + checkpoints/), one of its checkpoints, "
    "or the T2M evaluator's finest.tar (or a folder of the official checkpoints/ tree holding it)"
)
_T2M_KEYS = ("text_encoder", "movement_encoder", "motion_encoder")
#: The T2M evaluator reading each representation.
_T2M_DATASETS = {"humanml3d-263": "t2m", "kit-251": "kit"}
_REPRESENTATIONS = {dataset: representation for representation, dataset in _T2M_DATASETS.items()}


def load_evaluator(
    path: str | Path,
    *,
    dataset_info: Any = None,
    glove_dir: str | Path | None = None,
    meta_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> EmbeddingEvaluator:
    """The frozen evaluator at ``path`` (see the module docstring); a project error for anything else."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MogenBenchError(
            "no such file or folder", file=str(path), field="evaluator", fix=f"give {_WHAT}"
        )
    run_dir, checkpoint = _run_location(path)
    if run_dir is not None:
        evaluator = _load_contrastive(run_dir, checkpoint, device)
    else:
        evaluator = _load_t2m(path, dataset_info, glove_dir, meta_dir, device)
    if dataset_info is not None:
        _check_dataset(evaluator, dataset_info, path)
    return evaluator


# --------------------------------------------------------------------------- the contrastive evaluator
def _run_location(path: Path) -> tuple[Path | None, Path | None]:
    """``(run folder, checkpoint or None)`` when ``path`` is a run folder or a checkpoint inside one."""
    from mogen_bench.training.checkpoint import CHECKPOINT_FOLDER
    from mogen_bench.training.run import CONFIG_FILE

    if path.is_dir():
        return (path, None) if (path / CONFIG_FILE).is_file() else (None, None)
    if path.parent.name == CHECKPOINT_FOLDER and (path.parent.parent / CONFIG_FILE).is_file():
        return path.parent.parent, path
    return None, None


def _load_contrastive(run_dir: Path, checkpoint: Path | None, device) -> EmbeddingEvaluator:
    from mogen_bench.evaluators.contrastive import ContrastiveEvaluator
    from mogen_bench.training.run import load_run, read_run_config

    model = read_run_config(run_dir).get("model")
    if model != ContrastiveEvaluator.name:
        raise MogenBenchError(
            f"the run folder holds a {model!r} model, not an evaluator",
            file=str(run_dir),
            field="evaluator",
            fix="give the run folder of `mogen-bench train evaluator --dataset DIR --out RUN`, "
            "or the T2M evaluator's finest.tar",
        )
    run = load_run(run_dir, checkpoint=checkpoint, device=device)
    evaluator = run.model
    if run.normalised:
        evaluator.set_statistics(run.mean, run.std)
    else:  # trained on the stored features: the identity
        evaluator.set_statistics(np.zeros_like(run.mean), np.ones_like(run.std))
    evaluator.run_dir, evaluator.checkpoint_path, evaluator.step = run.run_dir, str(run.checkpoint), run.step
    return evaluator.freeze()


# --------------------------------------------------------------------------- the published T2M evaluator
def _load_t2m(path: Path, dataset_info, glove_dir, meta_dir, device) -> EmbeddingEvaluator:
    from mogen_bench.evaluators.adapters import T2MEmbeddingEvaluator
    from mogen_bench.evaluators.glove import PREFIX, WordVectorizer
    from mogen_bench.evaluators.t2m import (
        DIMS,
        T2MEvaluator,
        find_checkpoint,
        find_meta_dir,
        load_evaluator_stats,
        read_checkpoint,
    )

    wanted = _t2m_dataset(dataset_info, path)
    file = _find_t2m_checkpoint(path, wanted, find_checkpoint)
    state = read_checkpoint(file)
    if isinstance(state, Mapping) and state.get("format") == "mogen-bench-checkpoint":
        raise MogenBenchError(
            "a mogen-bench checkpoint outside its run folder: the evaluator is rebuilt from the run's "
            "config.json, which is not beside it",
            file=str(file),
            field="evaluator",
            fix="give the run folder (or the checkpoint where it lies, RUN/checkpoints/step-*.pt)",
        )
    if not isinstance(state, Mapping) or not all(key in state for key in _T2M_KEYS):
        keys = sorted(map(str, state))[:8] if isinstance(state, Mapping) else type(state).__name__
        raise MogenBenchError(
            f"not an evaluator: neither a mogen-bench run nor a T2M evaluator checkpoint (it holds {keys})",
            file=str(file),
            field="evaluator",
            fix=f"give {_WHAT}",
        )
    # Which T2M evaluator (HumanML3D or KIT-ML) the file is: the first convolution reads dim_pose - 4 dims.
    movement = state["movement_encoder"]
    first = movement.get("main.0.weight") if isinstance(movement, Mapping) else None
    found = None
    if torch.is_tensor(first) and first.ndim == 3:
        found = {d.dim_pose - 4: name for name, d in DIMS.items()}.get(int(first.shape[1]))
    if wanted is not None and found is not None and found != wanted:
        raise MogenBenchError(
            f"this is the {found!r} T2M evaluator ({_REPRESENTATIONS[found]} features), the dataset has "
            f"{_REPRESENTATIONS[wanted]} features",
            file=str(file),
            field="evaluator",
            fix=f"use checkpoints/{wanted}/text_mot_match/model/finest.tar",
        )
    dataset = wanted or found or "t2m"  # an unrecognised file: load_checkpoint names what does not fit
    evaluator = T2MEvaluator(dataset)
    evaluator.load_checkpoint(state, source=str(file))  # names the keys that do not fit
    evaluator.checkpoint_path = str(file)
    meta = Path(meta_dir) if meta_dir is not None else find_meta_dir(file, dataset)
    if meta is None:
        raise MogenBenchError(
            "the T2M evaluator's statistics (meta/mean.npy, meta/std.npy) are not beside the checkpoint",
            file=str(file),
            field="meta_dir",
            fix="pass meta_dir= the folder checkpoints/t2m/Comp_v6_KLD01/meta (KIT-ML: "
            "checkpoints/kit/Comp_v6_KLD005/meta)",
        )
    evaluator.set_statistics(*load_evaluator_stats(meta, dataset))
    glove = Path(glove_dir).expanduser() if glove_dir is not None else _find_glove(file, PREFIX)
    if glove is None or not (glove / f"{PREFIX}_data.npy").is_file():
        where = "none were found beside the checkpoint" if glove is None else "this folder does not hold them"
        raise MogenBenchError(
            f"the T2M evaluator needs the GloVe word vectors ({PREFIX}_data.npy, {PREFIX}_words.pkl, "
            f"{PREFIX}_idx.pkl); {where}",
            file=str(glove if glove is not None else file),
            field="glove_dir",
            fix="unpack the official glove.zip and pass its folder as glove_dir (--glove-dir)",
        )
    vectorizer = WordVectorizer.from_dir(glove, PREFIX)
    evaluator.requires_grad_(False)  # and always in eval mode (T2MEvaluator.train)
    return T2MEmbeddingEvaluator(evaluator.to(device), vectorizer)


def _t2m_dataset(dataset_info, path: Path) -> str | None:
    """``t2m`` / ``kit`` as the dataset's representation asks, ``None`` when no dataset was given."""
    if dataset_info is None:
        return None
    representation = dataset_info.representation
    if representation not in _T2M_DATASETS:
        raise MogenBenchError(
            f"the T2M evaluator reads humanml3d-263 or kit-251 features, the dataset has {representation}",
            file=str(path),
            field="evaluator",
            fix="train an evaluator on this dataset: `mogen-bench train evaluator --dataset DIR --out RUN`",
        )
    return _T2M_DATASETS[representation]


def _find_t2m_checkpoint(path: Path, wanted: str | None, find_checkpoint) -> Path:
    if path.is_file():
        return path
    for dataset in [wanted] if wanted else ["t2m", "kit"]:
        try:
            return find_checkpoint(path, dataset)
        except MogenBenchError:
            continue
    raise MogenBenchError(
        "not an evaluator: the folder has neither a run's config.json nor the T2M evaluator's finest.tar",
        file=str(path),
        field="evaluator",
        fix=f"give {_WHAT}",
    )


def _find_glove(checkpoint: Path, prefix: str) -> Path | None:
    """A ``glove/`` folder with the vocabulary beside the ``checkpoints/`` tree (the official layout)."""
    for base in list(checkpoint.parents)[:6]:
        for folder in (base / "glove", base):
            if (folder / f"{prefix}_data.npy").is_file():
                return folder
    return None


def _check_dataset(evaluator: EmbeddingEvaluator, dataset_info, path: Path) -> None:
    if evaluator.representation != dataset_info.representation:
        raise MogenBenchError(
            f"the evaluator reads {evaluator.representation} features, the dataset "
            f"{getattr(dataset_info, 'name', '')!r} has {dataset_info.representation}",
            file=str(path),
            field="evaluator",
            fix="use an evaluator trained on (or published for) this dataset's representation",
        )
