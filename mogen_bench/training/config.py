"""Run configuration: the trainer's settings and the resolver that builds every config section of a run.

A run's configuration is a few sections (``train``, ``model``, ``data`` ...), each one dataclass. They are
filled from layers of nested dicts applied in order: a preset TOML shipped with the model, the user's
``--config FILE.toml`` and the ``--set section.key=value`` overrides of the command line::

    sections = resolve_sections(
        {"train": TrainConfig, "model": MDMConfig},
        load_toml(preset), load_toml(user_file), parse_overrides(["train.lr=3e-4"]),
        sources=[str(preset), str(user_file), "--set"],
    )
    write_json(run_dir / "config.json", config_to_dict(sections))

Every key is checked against its dataclass before any work starts: an unknown section or key gets the
nearest existing name and the list of valid keys; a value is coerced to the field's type (``int``,
``float``, ``bool``, ``str``, tuples and lists of those, ``Literal``, ``Optional``, nested dataclasses,
``dict[str, X]``) or rejected with a message naming the layer's file and the key. The ``config.json`` of a
run is itself a valid layer, so evaluation and ``--resume`` rebuild the same dataclasses from it.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import itertools
import json
import math
import os
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from annotation.files import read_user_file
from mogen_bench.errors import MogenBenchError


@dataclass(frozen=True)
class TrainConfig:
    """The trainer's settings, the same for every model: the ``[train]`` section of a preset or config file.

    A step is one optimiser update: ``accumulate`` micro batches of ``batch_size`` on every process, so the
    global batch is ``batch_size * accumulate * world_size`` (reach a paper's 8-GPU batch on one GPU with
    ``accumulate``, not by shrinking it). Step counts (``max_steps``, ``warmup_steps``, milestones, the
    ``*_every`` intervals) are all in optimiser steps.
    """

    max_steps: int = 10_000
    #: Passes over the training split; when > 0 it replaces ``max_steps`` with ``ceil(max_epochs x batches
    #: per epoch per process / accumulate)``, worked out when the run starts and written to its config.json.
    #: For recipes that count epochs (TEACH: 1001) on a dataset whose size the preset cannot know. A layer
    #: (preset, ``--config``, ``--set``) that sets ``max_steps`` alone turns an earlier layer's epochs off.
    max_epochs: int = 0
    #: A wall-clock budget (minutes of this invocation's training, 0: none): the run stops at the first step
    #: boundary past it, logs and checkpoints that step. For comparisons at equal training time; the step
    #: reached depends on the machine, so such a run is not reproducible step for step.
    max_minutes: float = 0.0
    #: Micro batch per process.
    batch_size: int = 64
    #: Micro batches whose gradients are summed into one optimiser step.
    accumulate: int = 1
    lr: float = 1e-4
    optimizer: Literal["adamw", "adam"] = "adamw"
    #: AdamW: decoupled decay; Adam: L2 penalty. Never applied to tensors below 2-D (biases, norm weights).
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    #: After the warm-up: constant, step (times ``step_gamma`` at each milestone) or cosine decay.
    schedule: Literal["constant", "step", "cosine"] = "constant"
    #: Linear warm-up from ``lr / (warmup_steps + 1)`` to ``lr`` (nanoGPT's ramp).
    warmup_steps: int = 0
    #: Steps from which the learning rate is multiplied by another ``step_gamma`` (schedule "step").
    step_milestones: tuple[int, ...] = ()
    step_gamma: float = 0.1
    #: Cosine decay ends at ``lr * min_lr_ratio`` at ``max_steps``.
    min_lr_ratio: float = 0.0
    #: Clip the global gradient norm to this; 0 turns clipping off.
    grad_clip: float = 0.0
    #: Decay of the exponential moving average of the weights; 0 turns EMA off.
    ema_decay: float = 0.0
    #: auto: bf16 autocast on CUDA (where supported), fp32 on CPU.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    #: The run's one base seed; ranks, workers and replications derive theirs from it (``seed_for``).
    seed: int = 0
    log_every: int = 50
    #: Write a checkpoint every this many steps (and at the end); 0: only at the end.
    checkpoint_every: int = 5_000
    #: Step checkpoints kept on disk (the newest always survives); 0 keeps all.
    keep_checkpoints: int = 3
    #: Evaluate every this many steps; 0: never during training.
    eval_every: int = 0
    num_workers: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        coerce_fields(self)
        for name in ("batch_size", "accumulate", "log_every"):
            _at_least(self, name, 1)
        for name in ("warmup_steps", "checkpoint_every", "keep_checkpoints", "eval_every", "num_workers"):
            _at_least(self, name, 0)
        # 0: a model that is not trained (PriorMDM samples with a trained prior) is saved as built.
        _at_least(self, "max_steps", 0)
        _at_least(self, "max_epochs", 0)
        _at_least(self, "seed", 0)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise MogenBenchError(
                f"lr must be a positive number, got {self.lr}", field="lr", fix="use e.g. 1e-4"
            )
        for name in ("weight_decay", "grad_clip", "max_minutes"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise MogenBenchError(
                    f"{name} must be >= 0, got {value}", field=name, fix="use 0 to turn it off"
                )
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise MogenBenchError(
                f"adam_betas must lie in [0, 1), got {list(self.adam_betas)}",
                field="adam_betas",
                fix="use e.g. [0.9, 0.999]",
            )
        if not self.adam_eps > 0:
            raise MogenBenchError(
                f"adam_eps must be positive, got {self.adam_eps}", field="adam_eps", fix="use e.g. 1e-8"
            )
        milestones = self.step_milestones
        if any(m < 1 for m in milestones) or any(b <= a for a, b in itertools.pairwise(milestones)):
            raise MogenBenchError(
                f"step_milestones must be increasing steps >= 1, got {list(milestones)}",
                field="step_milestones",
                fix="list the steps in order, e.g. [100000, 150000]",
            )
        if self.schedule == "step" and not milestones:
            raise MogenBenchError(
                'schedule "step" needs at least one milestone',
                field="step_milestones",
                fix='set step_milestones (e.g. [100000]) or use schedule = "constant"',
            )
        if not 0 < self.step_gamma <= 1:
            raise MogenBenchError(
                f"step_gamma must lie in (0, 1], got {self.step_gamma}",
                field="step_gamma",
                fix="use e.g. 0.1",
            )
        if not 0 <= self.min_lr_ratio <= 1:
            raise MogenBenchError(
                f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}",
                field="min_lr_ratio",
                fix="use e.g. 0.1",
            )
        if not 0 <= self.ema_decay < 1:
            raise MogenBenchError(
                f"ema_decay must lie in [0, 1), got {self.ema_decay}",
                field="ema_decay",
                fix="use e.g. 0.9999, or 0 to turn EMA off",
            )

    def global_batch_size(self, world_size: int = 1) -> int:
        """Samples per optimiser step over all processes."""
        return self.batch_size * self.accumulate * world_size


def _at_least(config: Any, name: str, low: int) -> None:
    value = getattr(config, name)
    if value < low:
        raise MogenBenchError(
            f"{name} must be >= {low}, got {value}", field=name, fix=f"use a value >= {low}"
        )


# ---------------------------------------------------------------------------------------------- resolving


def resolve_sections(
    sections: Mapping[str, type], *layers: Mapping | None, sources: Sequence[str | None] | None = None
) -> dict[str, Any]:
    """Build one dataclass instance per section from ``layers`` of nested dicts, later layers winning.

    Args:
        sections: section name -> config dataclass, e.g. ``{"train": TrainConfig, "model": MDMConfig}``.
        layers: ``{section: {key: value}}`` dicts (a preset, a user's file, ``parse_overrides(...)``, or a
            run's ``config.json``); ``None`` layers are skipped. A section may be missing from any layer;
            a field set in no layer keeps its dataclass default.
        sources: what each layer is (a file path, ``"--set"``), named in error messages.

    Raises ``MogenBenchError`` for an unknown section or key (with the nearest name and the valid keys), a
    value of the wrong type, a required field set nowhere, or a value the dataclass rejects.
    """
    sources = list(sources) if sources is not None else [None] * len(layers)
    if len(sources) != len(layers):
        raise ValueError(f"{len(layers)} layers but {len(sources)} sources")
    merged: dict[str, dict] = {name: {} for name in sections}
    origins: dict[str, str | None] = {}  # dotted key -> the layer that set it last, for later errors
    for layer, source in zip(layers, sources, strict=True):
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise MogenBenchError(f"expected a table of sections, got {_show(layer)}", file=source)
        for section, table in layer.items():
            if section not in sections:
                raise _unknown_name("section", str(section), list(sections), source)
            if not isinstance(table, Mapping):
                raise MogenBenchError(
                    f"[{section}] must be a table of settings, got {_show(table)}",
                    file=source,
                    field=str(section),
                    fix=f"write the settings under a [{section}] header, one key = value per line",
                )
            checked = _check_table(sections[section], table, section, source)
            _deep_merge(merged[section], checked)
            origins.update(dict.fromkeys(_dotted_keys(checked, section), source))
    return {name: _build(cls, merged[name], name, origins) for name, cls in sections.items()}


def parse_overrides(items: Sequence[str]) -> dict:
    """``["train.lr=3e-4", "model.name=\\"x\\""]`` as the nested layer ``{"train": {"lr": 0.0003}, ...}``.

    A value is read as a TOML literal (``4``, ``3e-4``, ``true``, ``"text"``, ``[1, 2]``) and, when it is
    not one, taken as a bare string (``model.text_encoder=clip``). Keys need a section: ``SECTION.KEY``,
    or ``SECTION.KEY.SUBKEY`` for a nested table. A later override of the same key wins.
    """
    layer: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        path = key.split(".")
        if not sep or len(path) < 2 or not all(p.strip() for p in path):
            raise MogenBenchError(
                f"cannot read the override {item!r}",
                field="--set",
                fix="write SECTION.KEY=VALUE, e.g. --set train.lr=3e-4",
            )
        table = layer
        for i, part in enumerate(path[:-1]):
            table = table.setdefault(part.strip(), {})
            if not isinstance(table, dict):
                raise MogenBenchError(
                    f"the override {item!r} sets inside {'.'.join(path[: i + 1])!r}, which another override "
                    "sets to a value",
                    field="--set",
                    fix="set either the table or one of its keys",
                )
        last = path[-1].strip()
        if isinstance(table.get(last), dict):
            raise MogenBenchError(
                f"the override {item!r} replaces the table {key!r} that another override sets keys in",
                field="--set",
                fix="set either the table or one of its keys",
            )
        table[last] = _parse_literal(text.strip())
    return layer


def _parse_literal(text: str) -> Any:
    if "\n" in text or "\r" in text:
        return text
    try:
        return _tomllib().loads(f"value = {text}")["value"]
    except Exception:  # not a TOML literal: the bare text is the value
        return text


def load_toml(path: str | os.PathLike) -> dict:
    """The parsed TOML file ``path``; a ``MogenBenchError`` naming the file (and the line) if unreadable."""
    data = read_user_file(path, expected="a .toml file")
    toml = _tomllib()
    try:
        return toml.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MogenBenchError("not UTF-8 text", file=str(path), fix="save the file as UTF-8") from None
    except toml.TOMLDecodeError as exc:
        raise MogenBenchError(
            f"invalid TOML: {exc}", file=str(path), fix="see https://toml.io for the syntax"
        ) from None


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli package
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise MogenBenchError(
                "reading TOML on Python 3.10 needs the tomli package", fix="pip install tomli"
            ) from None
    return tomllib


def config_to_dict(config: Any) -> Any:
    """A config dataclass, or a dict of them, as plain JSON data (tuples become lists) for ``config.json``."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in fields(config)}
    if isinstance(config, Mapping):
        return {str(key): config_to_dict(value) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return [config_to_dict(value) for value in config]
    if isinstance(config, Path):
        return str(config)
    if config is None or isinstance(config, bool | int | float | str):
        return config
    raise TypeError(f"cannot write {type(config).__name__} to config.json")


# ---------------------------------------------------------------------------------------------- coercion


def coerce_fields(instance: Any) -> None:
    """Coerce every field of a dataclass instance to its declared type in place (frozen ones too).

    Call it first in ``__post_init__``: ``TrainConfig(step_milestones=[10])`` then holds ``(10,)``, and a
    wrong type fails with the field's name instead of deep inside training.
    """
    hints = _hints(type(instance))
    for f in fields(instance):
        if not f.init:
            continue
        value = getattr(instance, f.name)
        target = _dataclass_in(hints[f.name])
        if target is not None and isinstance(value, Mapping):
            coerced = _build(target, dict(value), f.name)
        else:
            coerced = coerce_value(value, hints[f.name], f.name)
        if coerced is not value:
            object.__setattr__(instance, f.name, coerced)


def coerce_value(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the type ``annotation``, or a ``MogenBenchError`` saying what ``name`` expects."""
    if annotation is Any or annotation is object:
        return value
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        if len(options) < len(args) and (
            value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        ):
            return None
        for option in options:
            try:
                return coerce_value(value, option, name)
            except MogenBenchError:
                continue
        raise _type_error(name, annotation, value)
    if origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
        near = difflib.get_close_matches(value, [str(a) for a in args], n=1) if isinstance(value, str) else []
        hint = f" (did you mean {json.dumps(near[0])}?)" if near else ""
        raise MogenBenchError(
            f"{name} expects {_describe(annotation)}, got {_show(value)}{hint}",
            field=name,
            fix=f"use one of {', '.join(json.dumps(a) for a in args)}",
        )
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(name, annotation, value)
    if annotation is int:
        return _to_int(value, name)
    if annotation is float:
        return _to_float(value, name)
    if annotation is str:
        if isinstance(value, str):
            return value
        # An override like model.run_name=2024 reads as a number; the user meant the text.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, datetime.date | datetime.time):
            return value.isoformat()
        raise _type_error(name, annotation, value)
    if annotation in (tuple, list) or origin in (tuple, list):
        return _to_sequence(value, annotation, name)
    if annotation is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise _type_error(name, annotation, value)
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): coerce_value(v, value_type, f"{name}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        if isinstance(value, Mapping):
            return _build(annotation, dict(value), name)
        raise _type_error(name, annotation, value)
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise _type_error(name, annotation, value)
    return value  # an annotation we do not check (a Protocol, a callable ...)


def _to_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)  # 1e5 in a TOML file is a float; the user meant 100000
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number.is_integer():
                return int(number)
    raise _type_error(name, int, value)


def _to_float(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            raise _type_error(name, float, value) from None
    else:
        raise _type_error(name, float, value)
    if math.isnan(number):
        raise _type_error(name, float, value)
    return number


def _to_sequence(value: Any, annotation: Any, name: str) -> tuple | list:
    origin = get_origin(annotation) or annotation
    args = get_args(annotation)
    variadic = origin is list or not args or (len(args) == 2 and args[1] is Ellipsis)
    if isinstance(value, str | int | float | bool) and variadic:
        value = [value]  # train.step_milestones=1000 means [1000]
    if not isinstance(value, list | tuple):
        raise _type_error(name, annotation, value)
    if variadic:
        item_type = args[0] if args else Any
        items = [coerce_value(v, item_type, f"{name}[{i}]") for i, v in enumerate(value)]
    else:
        if len(value) != len(args):
            raise _type_error(name, annotation, value)
        items = [coerce_value(v, t, f"{name}[{i}]") for i, (v, t) in enumerate(zip(value, args, strict=True))]
    return tuple(items) if origin is tuple else items


def _describe(annotation: Any, plural: bool = False) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Union or origin is types.UnionType:
        options = [_describe(a, plural) for a in args if a is not type(None)]
        text = " or ".join(options)
        return f"{text} or none" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    simple = {bool: ("true or false", "true/false values"), int: ("an integer", "integers"),
              float: ("a number", "numbers"), str: ("a string", "strings")}  # fmt: skip
    if annotation in simple:
        return simple[annotation][plural]
    if annotation in (tuple, list) or origin in (tuple, list):
        if not args:
            return "a list"
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {_describe(args[0], plural=True)}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_describe(args[0], plural=True)}"
        return "a list of " + ", ".join(_describe(a) for a in args)
    if annotation is dict or origin is dict:
        return "a table"
    if dataclasses.is_dataclass(annotation):
        return f"a table of {annotation.__name__} settings"
    return getattr(annotation, "__name__", str(annotation))


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _type_error(name: str, annotation: Any, value: Any) -> MogenBenchError:
    return MogenBenchError(
        f"{name} expects {_describe(annotation)}, got {_show(value)}",
        field=name,
        fix=f"set {name} to {_describe(annotation)}",
    )


def _unknown_name(
    kind: str, name: str, valid: list[str], source: str | None, prefix: str = ""
) -> MogenBenchError:
    near = difflib.get_close_matches(name, valid, n=1)
    full = f"{prefix}{name}"
    hint = f" (did you mean {prefix + near[0]!r}?)" if near else ""
    where = f"[{prefix.rstrip('.')}]" if prefix else "the config"
    return MogenBenchError(
        f"unknown {kind} {full!r}{hint}",
        file=source,
        field=full,
        fix=f"valid {kind}s in {where}: {', '.join(valid)}",
    )


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _dataclass_in(annotation: Any) -> type | None:
    """The dataclass an annotation names (directly or as ``X | None``), else ``None``."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _dataclass_in(options[0])
    return None


def _check_table(cls: type, table: Mapping, prefix: str, source: str | None) -> dict:
    """One layer's table for ``cls``: keys checked, values coerced; nested dataclass tables stay dicts."""
    hints = _hints(cls)
    valid = [f.name for f in fields(cls) if f.init]
    checked: dict = {}
    for key, value in table.items():
        if key not in valid:
            raise _unknown_name("key", str(key), valid, source, prefix=f"{prefix}.")
        name = f"{prefix}.{key}"
        nested = _dataclass_in(hints[key])
        try:
            if nested is not None and isinstance(value, Mapping):
                checked[key] = _check_table(nested, value, name, source)
            else:
                checked[key] = coerce_value(value, hints[key], name)
        except MogenBenchError as exc:
            if exc.file is None:
                exc.file = source
            raise
    return checked


def _dotted_keys(table: Mapping, prefix: str) -> list[str]:
    keys = []
    for key, value in table.items():
        keys.append(f"{prefix}.{key}")
        if isinstance(value, Mapping):
            keys.extend(_dotted_keys(value, f"{prefix}.{key}"))
    return keys


def _deep_merge(into: dict, update: Mapping) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _build(cls: type, values: dict, prefix: str, origins: Mapping[str, str | None] | None = None) -> Any:
    """``cls(**values)`` with nested tables built too; its own checks' errors name ``prefix.field``.

    ``origins`` maps dotted keys to the file that set them, so such an error also names that file.
    """
    hints = _hints(cls)
    kwargs = {}
    for key, value in values.items():
        nested = _dataclass_in(hints[key])
        if nested is not None and isinstance(value, Mapping):
            value = _build(nested, value, f"{prefix}.{key}", origins)
        kwargs[key] = value
    missing = [
        f.name
        for f in fields(cls)
        if f.init
        and f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise MogenBenchError(
            f"{prefix}.{missing[0]} has no default and is not set",
            field=f"{prefix}.{missing[0]}",
            fix=f"set {prefix}.{missing[0]} in the config file or with --set",
        )
    try:
        return cls(**kwargs)
    except MogenBenchError as exc:
        if exc.field and not exc.field.startswith(f"{prefix}."):
            field = f"{prefix}.{exc.field}"
            # The dataclass's own message starts with its bare field name; give it the section too.
            message = exc.message
            if message.startswith(f"{exc.field} "):
                message = f"{prefix}.{message}"
            file = exc.file or (origins or {}).get(field)
            raise MogenBenchError(message, file=file, field=field, fix=exc.fix) from None
        raise
