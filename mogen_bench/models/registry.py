"""The model registry: ``mogen_bench.models`` entry points, name -> ``MotionModel`` subclass.

Entry points make the registry open: any installed package that declares

    [project.entry-points."mogen_bench.models"]
    mymodel = "my_package.model:MyModel"

is trainable with ``mogen-bench train mymodel`` and evaluated by the same protocol. Presets are TOML files
in the model's ``presets_package`` (``baselines/mdm/presets/tiny.toml`` is preset ``tiny`` of ``mdm``).
"""

from __future__ import annotations

import difflib
import tomllib
from importlib import metadata, resources

from mogen_bench.errors import MogenBenchError
from mogen_bench.models.base import MotionModel

GROUP = "mogen_bench.models"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def available_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_entry_points())


def get_model_class(name: str) -> type[MotionModel]:
    """The model class registered as ``name``; a project error naming the known models otherwise."""
    points = _entry_points()
    if name not in points:
        close = difflib.get_close_matches(name, list(points), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise MogenBenchError(
            f"unknown model {name!r}",
            field="model",
            fix=f"{hint}known models: {', '.join(sorted(points)) or 'none (is mogen-bench installed?)'}",
        )
    model = points[name].load()
    if not (isinstance(model, type) and issubclass(model, MotionModel)):
        raise MogenBenchError(
            f"entry point {name!r} ({points[name].value}) is not a MotionModel subclass",
            field="model",
            fix="point the mogen_bench.models entry point at a MotionModel subclass",
        )
    return model


def available_presets(model: type[MotionModel]) -> list[str]:
    if not model.presets_package:
        return []
    folder = resources.files(model.presets_package)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(model: type[MotionModel], preset: str) -> dict:
    """The nested dict of preset ``preset`` of ``model``; a project error naming the shipped presets."""
    presets = available_presets(model)
    if preset not in presets:
        close = difflib.get_close_matches(preset, presets, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise MogenBenchError(
            f"model {model.name!r} has no preset {preset!r}",
            field="preset",
            fix=f"{hint}presets of {model.name}: {', '.join(presets) or 'none'}",
        )
    text = resources.files(model.presets_package).joinpath(f"{preset}.toml").read_text("utf-8")
    return tomllib.loads(text)
