"""Input checking shared by the motion modules: torch tensors or numpy arrays in, floating tensors out.

Every public function of ``mogen_bench.motion`` accepts either kind; this turns the argument into a
tensor (a view of the numpy memory where that is safe) or raises a ``MogenBenchError`` that names the
function, the argument, the expected shape and the fix. Shape rules stay with each caller.
"""

from __future__ import annotations

import numpy as np
import torch

from mogen_bench.errors import MogenBenchError


def floating_tensor(
    func: str, name: str, value: object, expected: str, *, label: str | None = None, copy: bool = False
) -> torch.Tensor:
    """``value`` as a floating-point tensor; ``expected`` describes its shape for the error message.

    ``label`` is how messages name the argument (default ``name``); ``copy`` forces a numpy array to be
    copied rather than viewed.
    """
    label = label or name
    if not isinstance(value, np.ndarray | torch.Tensor):
        raise MogenBenchError(
            f"{func}() needs {label} as a torch tensor or numpy array of shape {expected}, "
            f"got {type(value).__name__}",
            field=name,
            fix=f"pass {name} as torch.as_tensor(...) or np.asarray(...)",
        )
    floating = (
        np.issubdtype(value.dtype, np.floating)
        if isinstance(value, np.ndarray)
        else value.is_floating_point()
    )
    if not floating:
        raise MogenBenchError(
            f"{func}() needs a floating-point {label}, got dtype {value.dtype}",
            field=name,
            fix=f"convert {name} to float32 or float64",
        )
    if isinstance(value, torch.Tensor):
        return value
    # np.ascontiguousarray would turn a 0-d array into shape (1,), so copy only what is not contiguous.
    array = value if value.flags.c_contiguous else np.ascontiguousarray(value)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if copy or not array.flags.writeable:
        array = array.copy()  # torch.from_numpy warns on read-only memory (arrays from np.load of an .npz)
    return torch.from_numpy(array)


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as Python writes a tuple: ``(5,)``, ``(2, 3)``."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
