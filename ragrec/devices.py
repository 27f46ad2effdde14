"""Where the models run: a GPU when one is present, the CPU otherwise, or what Settings name.

`auto` uses a GPU only when one is usable, so the same Settings serve a laptop and a GPU node; naming `cuda` on a
machine without one is an error at once, rather than a silent CPU run many times slower than planned.
"""

from __future__ import annotations

import os
import re

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


def offline_quiet_transformers() -> None:
    """Before any Hugging Face model load: never reach for a hub at run time, and no "Loading weights" bar in the
    middle of a command's output (ragrec draws its own progress)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils.logging import disable_progress_bar

    disable_progress_bar()


class DeviceError(ValueError):
    """The configured device is not on this machine."""


def embedding_device(setting: str) -> str:
    """The torch device for sentence-transformers: `auto` -> `cuda` when torch sees a GPU, else `cpu`."""
    import torch

    if setting == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if setting == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceError(f"embedding_device={setting!r} (RAGREC_EMBEDDING_DEVICE), but torch sees no CUDA GPU "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}): use auto or cpu")
    index = re.fullmatch(r"cuda:(\d+)", setting)
    if index and int(index[1]) >= torch.cuda.device_count():
        raise DeviceError(f"embedding_device={setting!r} (RAGREC_EMBEDDING_DEVICE), but this machine has "
                          f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    return setting


def collab_on_gpu(setting: str) -> bool:
    """Whether ALS trains on the GPU: implicit's CUDA ALS needs its CUDA extension and RMM (`implicit.gpu.HAS_CUDA`);
    `auto` uses it when they are there."""
    if setting == "cpu":
        return False
    import implicit.gpu

    if setting == "cuda" and not implicit.gpu.HAS_CUDA:
        raise DeviceError("collab_device='cuda' (RAGREC_COLLAB_DEVICE), but implicit has no usable GPU support "
                          "here (implicit.gpu.HAS_CUDA is false: no GPU, or implicit built without CUDA, or RMM "
                          "missing: pip install rmm-cu12/rmm-cu13): use auto or cpu")
    return implicit.gpu.HAS_CUDA
