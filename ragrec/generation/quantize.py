"""int8 Linear layers for the local LLM (`llm_quantize=int8`).

A decoding step on CPU reads every weight once, so int8 weights (half of bf16's bytes) make a step ~2x faster; the
int8 x int8 matmul (`torch._int_mm`, exact int32 sums) is faster than bf16's too, but a batch's prompt pass gives it
back in the passes that quantize and rescale. Weights: int8 with one scale per output channel. Inputs: quantized on
the fly with one scale per token. Not one scale per call (torch.ao's `quantize_dynamic`, faster still): a few tokens
carry "massive activations" (the first token and some delimiters, 2000x the median token at the input of SmolLM2's
12th MLP down_proj) and would round every other token's input to about 0: the descriptions that passed their checks
fell from 60 % to 20 % (bench/RESULTS.md). A scale per token also keeps each prompt's answer independent of the
others in its batch.
"""

from __future__ import annotations

import torch
from torch import nn


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        self.scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.qweight = torch.round(w / self.scale[:, None]).to(torch.int8).t()
        self.bias = None if linear.bias is None else linear.bias.detach().float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        s = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
        y = torch._int_mm(torch.round(rows / s).to(torch.int8), self.qweight).float().mul_(s).mul_(self.scale)
        if self.bias is not None:
            y += self.bias
        return y.reshape(*x.shape[:-1], -1)


@torch.no_grad()
def quantize_int8(model: nn.Module) -> None:
    """Every nn.Linear of `model` to an Int8Linear, in place. A tied lm_head gets its own int8 copy (the embedding
    stays float32). The float weights left over are copied into memory of their own: they were views of the
    safetensors file's memory map, which rounding the Linear weights read in whole, and which would otherwise stay
    resident (~500 MB more RSS than bf16 for the bundled model; the same as bf16 with the copy)."""
    for name, linear in [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]:
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, Int8Linear(linear))
    for p in model.parameters():
        p.data = p.data.clone()
