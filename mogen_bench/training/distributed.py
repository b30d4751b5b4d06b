"""One process or many: the device, the process group and the few collectives training and evaluation need.

The same code runs as one process (``mogen-bench train ...``) and under ``torchrun``, which sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` (and ``MASTER_ADDR`` / ``MASTER_PORT``) for every process, as in
nanoGPT's ``train.py``::

    torchrun --standalone --nproc_per_node=4 -m mogen_bench train mdm --dataset DATA --out RUN

``setup_distributed`` reads them, picks the device (``cuda:LOCAL_RANK``) and joins the group (NCCL on
GPUs, gloo on CPUs). Every collective here is also correct with one process and no group, so callers
never branch on the world size. Gathered results come back concatenated in rank order; callers that need
a canonical order (evaluation: R-precision pools must not depend on the world size) gather the dataset
indices alongside and sort by them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from mogen_bench.errors import MogenBenchError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: its rank among ``world_size`` processes and the device it computes on."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: The process group's backend ("nccl" or "gloo"); ``None`` for a single process without a group.
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """The process that logs, writes checkpoints and prints (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None

    def barrier(self) -> None:
        barrier()

    def all_gather_objects(self, obj: Any) -> list:
        return all_gather_objects(obj)

    def all_gather_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        return all_gather_tensor(tensor)

    def reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return reduce_mean(tensor)

    def reduce_mean_dict(self, values: Mapping[str, float]) -> dict[str, float]:
        return reduce_mean_dict(values)

    def cleanup(self) -> None:
        if self.backend is not None:
            cleanup()


def select_device(setting: str = "auto", local_rank: int = 0) -> torch.device:
    """The device for ``setting``: "auto" (``cuda:LOCAL_RANK`` when CUDA is there, else the CPU), "cpu",
    "cuda" (``cuda:LOCAL_RANK``; an error without CUDA) or "cuda:N"."""
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if setting not in ("auto", "cuda") and not (setting.startswith("cuda:") and setting[5:].isdigit()):
        raise MogenBenchError(
            f"unknown device {setting!r}",
            field="train.device",
            fix=f"use one of {', '.join(DEVICE_CHOICES)}",
        )
    if not torch.cuda.is_available():
        raise MogenBenchError(
            f"device {setting!r} asks for a GPU, but PyTorch sees no CUDA device",
            field="train.device",
            fix='use device "cpu" (or "auto"), or install a CUDA build of PyTorch',
        )
    index = int(setting[5:]) if setting.startswith("cuda:") else local_rank
    count = torch.cuda.device_count()
    if index >= count:
        raise MogenBenchError(
            f"device cuda:{index} asked for, but only {count} GPU{'s' if count != 1 else ''} visible",
            field="train.device",
            fix="start at most one process per GPU (torchrun --nproc_per_node) or check CUDA_VISIBLE_DEVICES",
        )
    return torch.device("cuda", index)


def setup_distributed(device_setting: str = "auto") -> DistributedContext:
    """Join the ``torchrun`` process group when its variables are set, else describe the single process.

    CUDA processes use NCCL and ``cuda:LOCAL_RANK``; CPU processes use gloo. Joining is idempotent: a group
    that is already initialised is reused.
    """
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistributedContext(device=select_device(device_setting))
    rank = _env_int("RANK")
    world_size = _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", default=rank)
    if not 0 <= rank < world_size:
        raise MogenBenchError(
            f"RANK {rank} is outside WORLD_SIZE {world_size}",
            field="RANK",
            fix="launch with torchrun, which sets RANK, LOCAL_RANK and WORLD_SIZE consistently",
        )
    device = select_device(device_setting, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        backend = dist.get_backend()
    else:
        backend = "nccl" if device.type == "cuda" else "gloo"
        options = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **options)
    return DistributedContext(rank, local_rank, world_size, device, backend)


def _env_int(name: str, default: int | None = None) -> int:
    text = os.environ.get(name)
    if text is None and default is not None:
        return default
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MogenBenchError(
            f"environment variable {name}={text!r} is not a whole number",
            field=name,
            fix="launch with torchrun, or unset RANK and WORLD_SIZE for a single process",
        ) from None


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main() -> bool:
    """True in a single process and on rank 0 of a group."""
    return not _active() or dist.get_rank() == 0


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def barrier() -> None:
    """Wait for every process (nothing to wait for in a single process)."""
    if _active():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if there is one."""
    if _active():
        dist.destroy_process_group()


def _comm_device(tensor: torch.Tensor) -> torch.device:
    # NCCL moves only CUDA tensors; gloo moves CPU (and CUDA) tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return tensor.device


def all_gather_objects(obj: Any) -> list:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not _active():
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_gather_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's ``tensor`` concatenated along dim 0 in rank order, on ``tensor``'s device.

    The first dimension may differ between processes (the last rank often holds fewer items); the other
    dimensions and the dtype must agree. Gather the item indices the same way to restore a canonical order.
    """
    if not _active():
        return tensor
    flat = tensor.reshape(1) if tensor.dim() == 0 else tensor
    device = _comm_device(flat)
    work = flat.detach().to(device)
    is_bool = work.dtype == torch.bool
    if is_bool:  # not every backend moves bool tensors
        work = work.to(torch.uint8)
    size = torch.tensor([work.shape[0]], device=device, dtype=torch.int64)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    padded = work.new_zeros((max(counts), *work.shape[1:]))
    padded[: work.shape[0]] = work
    pieces = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(pieces, padded.contiguous())
    result = torch.cat([piece[:count] for piece, count in zip(pieces, counts, strict=True)])
    return (result.bool() if is_bool else result).to(tensor.device)


def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``tensor`` over all processes, as a new tensor (floating point)."""
    work = tensor.detach().clone()
    if not work.is_floating_point():
        work = work.double()
    if not _active():
        return work
    device = _comm_device(work)
    work = work.to(device)
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return (work / dist.get_world_size()).to(tensor.device)


def reduce_mean_dict(values: Mapping[str, float]) -> dict[str, float]:
    """The mean of each value over all processes, in one collective; every process must pass the same keys."""
    if not _active():
        return {key: float(value) for key, value in values.items()}
    keys = sorted(values)
    device = _comm_device(torch.empty(0))
    stacked = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    mean = reduce_mean(stacked).tolist()
    return dict(zip(keys, mean, strict=True))


def seed_for(base_seed: int, *keys: int | str) -> int:
    """A seed derived from ``base_seed`` and ``keys`` (rank, worker, replication, purpose ...).

    A hash, so seeds for different keys are unrelated streams (``seed + rank`` would make rank 1 of run 0
    repeat rank 0 of run 1), and the same keys always give the same seed on every machine and Python
    version. The result lies in ``[0, 2**32)``, which every seeding API accepts (``np.random.seed`` too).
    """
    for key in (base_seed, *keys):
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError(f"seed keys must be ints or strings, got {key!r}")
    text = json.dumps([base_seed, *keys], separators=(",", ":"))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, person=b"mogen-bench-seed").digest()
    return int.from_bytes(digest, "little") % 2**32
