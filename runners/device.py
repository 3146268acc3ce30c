"""Where a pass runs: the device names a spec may give, and the one place they become a torch device.

Light to import (torch loads on the first `pick_device`), so specs and command lines can share `Device`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from runners.errors import RunnerError

if TYPE_CHECKING:
    import torch

Device = Literal["auto", "cpu", "cuda"]


def pick_device(requested: str) -> torch.device:
    """ "auto" -> CUDA when available, else CPU; an explicit "cuda" without a GPU is an error."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RunnerError("device='cuda' requested but CUDA is not available")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
