"""int8 Linear layers for the local LLM (`llm_quantize=int8`).

A decoding step on CPU reads every weight once, so int8 weights (half of bf16's bytes) make a step ~2x faster; the
int8 x int8 matmul (`torch._int_mm`, exact int32 sums) is faster than bf16's too, but a batch's prompt pass gives it
back in the passes that quantize and rescale. Weights: int8 with one scale per output channel. Inputs: quantized on
the fly with one scale per token. Not one scale per call (torch.ao's `quantize_dynamic`, faster still): a few tokens
carry "massive activations" (the first token and some delimiters, 2000x the median token at the input of SmolLM2's
12th MLP down_proj) and would round every other token's input to about 0: the descriptions that passed their checks
fell from 60 % to 20 % (bench/RESULTS.md). A scale per token also keeps each token's rounding independent of the
other prompts in its batch (not its answer, quite: float noise of ~1e-6 from the padding in batched attention
flips a rounding now and then, and greedy decoding can then take another word).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "1"  # of the cached int8 file: bump when Int8Linear's tensors change


class Int8Linear(nn.Module):
    def __init__(self, qweight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None):
        """qweight: int8 [out, in]; scale: one per output channel; bias: float32 or None."""
        super().__init__()
        self.qweight = qweight.t()  # [in, out], as _int_mm takes it
        self.scale, self.bias = scale, bias

    @classmethod
    def quantize(cls, linear: nn.Linear) -> Int8Linear:
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127
        bias = None if linear.bias is None else linear.bias.detach().float()
        return cls(torch.round(w / scale[:, None]).to(torch.int8), scale, bias)

    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        out = {f"{name}.qweight": self.qweight.t().contiguous(), f"{name}.scale": self.scale}
        return out if self.bias is None else {**out, f"{name}.bias": self.bias}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        s = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
        y = torch._int_mm(torch.round(rows / s).to(torch.int8), self.qweight).float().mul_(s).mul_(self.scale)
        if self.bias is not None:
            y += self.bias
        return y.reshape(*x.shape[:-1], -1)


def cache_file(model_dir: Path, cache_dir: Path) -> Path:
    """Where the int8 layers of `model_dir` are kept: named by the model's weight files (path, size, mtime), so
    a changed model is quantized afresh."""
    weights = sorted(p for p in Path(model_dir).iterdir() if p.suffix in (".safetensors", ".bin"))
    key = "|".join([FORMAT, str(Path(model_dir).resolve()), *(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                                              for p in weights)])
    return cache_dir / "int8" / f"{Path(model_dir).name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"


def _saved_layers(cache: Path | None, names: list[str]) -> dict[str, torch.Tensor] | None:
    if cache is None or not cache.exists():
        return None
    try:
        saved = load_file(cache)
    except Exception:  # noqa: BLE001  (a torn or foreign file: quantize again and overwrite it)
        return None
    return saved if all(f"{n}.qweight" in saved and f"{n}.scale" in saved for n in names) else None


@torch.no_grad()
def quantize_int8(model: nn.Module, cache: Path | None = None) -> None:
    """Every nn.Linear of `model` to an Int8Linear, in place. A tied lm_head gets its own int8 copy (the embedding
    stays float32). With `cache`, the int8 layers are read from that file when it holds them (then the float
    weights are never read: from_pretrained maps them lazily), else computed and written there (rounding took
    0.6 s of a cold start, reading the file 0.08 s). The float weights left over are copied into memory of their
    own: they were views of the safetensors file's memory map, which would otherwise stay resident (~500 MB more
    RSS than bf16 for the bundled model when the Linear weights were rounded from it)."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    saved = _saved_layers(cache, [n for n, _ in linears])
    layers = {}
    for name, linear in linears:
        if saved is None:
            layers[name] = Int8Linear.quantize(linear)
        else:
            layers[name] = Int8Linear(saved[f"{name}.qweight"], saved[f"{name}.scale"], saved.get(f"{name}.bias"))
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, layers[name])
    for p in model.parameters():
        p.data = p.data.clone()
    if saved is None and cache is not None:
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v for name, layer in layers.items() for k, v in layer.tensors(name).items()}, tmp)
            os.replace(tmp, cache)  # whole or not at all, with processes quantizing the same model at once
        except OSError:  # a read-only or full models dir: the model works, the next start quantizes again
            with contextlib.suppress(OSError):
                tmp.unlink()
