"""A BERT sentence-transformers model (the bundled MiniLM) run in plain torch, with the `tokenizers` library.

Why: importing sentence-transformers (and with it transformers, scikit-learn, scipy) takes ~5 s of CPU, most of
`ragrec serve`'s start-up, for a 6-layer encoder whose forward pass is a few lines of torch (bench/RESULTS.md).
The same weights, the same tokenizer file and the same operations in the same order as sentence-transformers with
transformers' "sdpa" attention: the vectors are the same, bit for bit (tests/test_embedding.py). Any other model
(another architecture, pooling, prompt, or a hub name) goes through sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
_NORMALIZE = "sentence_transformers.models.Normalize"


def _read(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def plain_bert(model: str) -> Path | None:
    """The folder if `model` is a local sentence-transformers folder this module runs exactly: a BERT Transformer
    (safetensors weights, tokenizer.json, no lower-casing) + mean Pooling (+ Normalize), no prompts; else None."""
    path = Path(model)
    modules = _read(path / "modules.json")
    config = _read(path / "config.json") or {}
    st = _read(path / "sentence_bert_config.json") or {}
    st_config = _read(path / "config_sentence_transformers.json") or {}
    if not isinstance(modules, list) or [m.get("path") for m in modules[:1]] != [""]:
        return None
    types = [m.get("type") for m in modules]
    if types not in (_MODULES, [*_MODULES, _NORMALIZE]):
        return None
    pooling = _read(path / modules[1]["path"] / "config.json") or {}
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    ok = (
        config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and not config.get("is_decoder") and not st.get("do_lower_case") and st.get("max_seq_length")
        and modes == {"pooling_mode_mean_tokens"} and not st_config.get("prompts")
        and not st_config.get("default_prompt_name")
        and (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    )
    return path if ok else None


class BertEmbedder:
    """Unit-norm float32 vectors of a plain BERT sentence-transformers folder (`plain_bert`). Like
    sentence-transformers' encode: texts sorted by length (less padding), batches of `batch_size`."""

    def __init__(self, path: Path, *, name: str, batch_size: int = 64, device: str = "cpu"):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.name, self.batch_size, self.device = name, batch_size, torch.device(device)
        self._torch = torch
        config = json.loads((path / "config.json").read_text())
        modules = json.loads((path / "modules.json").read_text())
        self._normalizations = 1 + (modules[-1]["type"] == _NORMALIZE)  # the Normalize module, then encode's own
        self.heads, self.eps = config["num_attention_heads"], config["layer_norm_eps"]
        max_len = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_len)  # longest_first, special tokens counted, as transformers does
        pad = config.get("pad_token_id") or 0
        self._tokenizer.enable_padding(pad_id=pad, pad_token=self._tokenizer.id_to_token(pad))
        weights = load_file(str(path / "model.safetensors"), device=str(self.device))
        self._w = {k.removeprefix("bert.").removeprefix("model."): v for k, v in weights.items()}
        self.layers = config["num_hidden_layers"]
        self.dim = int(config["hidden_size"])

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts])  # sentence-transformers' order, so the same batches
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._encode([texts[i] for i in idx]).cpu().numpy()
        return out

    def _encode(self, texts: list[str]):
        torch, F, w = self._torch, self._torch.nn.functional, self._w
        encodings = self._tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], device=self.device)
        mask = torch.tensor([e.attention_mask for e in encodings], device=self.device)
        batch, length = ids.shape
        x = F.embedding(ids, w["embeddings.word_embeddings.weight"])
        x = x + F.embedding(torch.zeros_like(ids), w["embeddings.token_type_embeddings.weight"])
        x = x + w["embeddings.position_embeddings.weight"][:length].unsqueeze(0)
        x = self._norm(x, "embeddings.LayerNorm")
        # transformers skips the mask when nothing is padded; else a boolean (batch, 1, query, key) mask
        attn_mask = None if bool(mask.all()) else mask.bool()[:, None, None, :].expand(batch, 1, length, length)
        head_dim = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + f"attention.self.{n}").view(batch, length, -1, head_dim).transpose(1, 2)
                       for n in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=0.0, scale=head_dim**-0.5,
                                               is_causal=False)
            a = a.transpose(1, 2).contiguous().reshape(batch, length, -1).contiguous()
            x = self._norm(self._linear(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = F.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)  # mean pooling over the real tokens, as sentence-transformers does
        vectors = (x * m).sum(dim=1, dtype=x.dtype) / torch.clamp(m.sum(dim=1, dtype=x.dtype), min=1e-9)
        for _ in range(self._normalizations):
            vectors = F.normalize(vectors, p=2, dim=1)
        return vectors

    def _linear(self, x, name: str):
        return self._torch.nn.functional.linear(x, self._w[name + ".weight"], self._w[name + ".bias"])

    def _norm(self, x, name: str):
        return self._torch.nn.functional.layer_norm(x, (x.shape[-1],), self._w[name + ".weight"],
                                                    self._w[name + ".bias"], self.eps)
