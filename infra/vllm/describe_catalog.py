"""Catalog blurbs on a GPU box with vLLM's offline engine: the batch `ragrec describe-catalog` runs through a
server, here in one process that keeps the GPU full. Run it inside the vLLM image (vLLM >= 0.12); it needs only
vLLM and the standard library: ragrec is not installed there (vLLM's wheels pin another torch, an older
transformers and FastAPI), and ragrec's prompts and checks stay on ragrec's side of the two files.

    # where ragrec runs: the prompts of the items still to describe with this model, rendered by ragrec
    ragrec describe-catalog --export prompts.jsonl --model Qwen/Qwen2.5-7B-Instruct
    # on the GPU box
    docker run --rm --gpus all -v "$PWD":/work -v ~/.cache/huggingface:/root/.cache/huggingface \
        --entrypoint python3 vllm/vllm-openai:v0.12.0 /work/infra/vllm/describe_catalog.py \
        --model Qwen/Qwen2.5-7B-Instruct /work/prompts.jsonl /work/blurbs.jsonl
    # back where ragrec runs: every blurb checked like a description, then stored in its item's payload
    ragrec describe-catalog --from-file blurbs.jsonl

Input lines: {"item_id", "key", "messages", "schema"}. Output lines: {"item_id", "key", "model", "description"},
or {..., "error"} when the model's answer was not the JSON asked for. The output is appended chunk by chunk
(--chunk prompts per `LLM.chat` call) and flushed: a killed run started again skips the items already in it.

The vLLM API used, read in vLLM's source (vllm-project/vllm, main, 2026): `LLM` and `SamplingParams` are
exported by `vllm/__init__.py`; `StructuredOutputsParams` is defined in `vllm/sampling_params.py` (fields `json`,
`regex`, `choice`, `grammar`, `json_object`, `structural_tag`; exactly one) and set as
`SamplingParams.structured_outputs`; `LLM.chat` (`vllm/entrypoints/llm.py`) takes a list of conversations (each a
list of role/content dicts) and returns one `RequestOutput` per conversation, its text in `.outputs[0].text`.
`GuidedDecodingParams` (vLLM < 0.12) no longer exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator


def read_prompts(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if line.strip():
                record = json.loads(line)
                missing = {"item_id", "key", "messages", "schema"} - set(record)
                if missing:
                    raise SystemExit(f"{path}:{n}: not a ragrec prompt line (missing {', '.join(sorted(missing))})")
                yield record


def done_items(path: Path) -> set[str]:
    """The items already in the output file (a previous run's): not asked again."""
    if not path.exists():
        return set()
    done = set()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                done.add(json.loads(line)["item_id"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut off by a kill: that item is asked again
    return done


def result_line(record: dict[str, Any], text: str, model: str) -> dict[str, Any]:
    """One output line from the model's answer: the blurb from the JSON, or why there is none."""
    line = {"item_id": record["item_id"], "key": record["key"], "model": model}
    try:
        description = json.loads(text)["description"]
    except (ValueError, KeyError, TypeError):
        return {**line, "error": f"bad_output: not the JSON asked for: {text[:200]!r}"}
    if not isinstance(description, str) or not description.strip():
        return {**line, "error": "bad_output: an empty description"}
    return {**line, "description": description.strip()}


def chunks(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompts", type=Path, help="JSON Lines from `ragrec describe-catalog --export`")
    parser.add_argument("output", type=Path, help="JSON Lines for `ragrec describe-catalog --from-file`")
    parser.add_argument("--model", required=True, help="Hugging Face model id or path (the name given to --export)")
    parser.add_argument("--max-tokens", type=int, default=96, help="Longest answer, JSON included (tokens)")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=4096, help="Prompts per LLM.chat call (written after each)")
    args = parser.parse_args(argv)

    # vLLM only here: the helpers above are importable (and tested) without it
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    done = done_items(args.output)
    todo = (r for r in read_prompts(args.prompts) if r["item_id"] not in done)
    llm = LLM(model=args.model, max_model_len=args.max_model_len, tensor_parallel_size=args.tensor_parallel_size,
              gpu_memory_utilization=args.gpu_memory_utilization)
    sampling = None  # built from the first line's schema (ragrec writes the same one on every line)
    written = failed = 0
    with open(args.output, "a", encoding="utf-8") as out:
        for chunk in chunks(todo, args.chunk):
            if sampling is None:
                sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens,
                                          structured_outputs=StructuredOutputsParams(json=chunk[0]["schema"]))
            outputs = llm.chat([r["messages"] for r in chunk], sampling, use_tqdm=True)
            for record, output in zip(chunk, outputs, strict=True):
                line = result_line(record, output.outputs[0].text, args.model)
                failed += "error" in line
                written += 1
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
    print(f"{written} items written to {args.output} ({failed} without a description; {len(done)} were already "
          "there)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
