"""Helpers shared by the deployment-file tests (tests/infra/): where the files are, how to read them, and the two
checks every file goes through: its RAGREC_* names are Settings fields, and the ragrec commands it runs exist."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ragrec.cli import app
from ragrec.config import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
DOCKERFILE = INFRA / "Dockerfile"
COMPOSE = INFRA / "docker-compose.yml"
ENV_EXAMPLE = INFRA / ".env.example"
IMAGE = "ragrec"  # the image infra/Dockerfile builds, as the compose file and the manifests name it

SETTINGS_NAMES = {f"RAGREC_{name.upper()}" for name in Settings.model_fields}


def unknown_settings(names: Iterable[str]) -> list[str]:
    """The RAGREC_* names among `names` that are not Settings fields (Settings ignores unknown ones silently)."""
    return sorted(n for n in set(names) if n.startswith("RAGREC_") and n not in SETTINGS_NAMES)


def load_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a process with exactly this environment would build them: no other RAGREC_* variable, no .env."""
    for name in list(os.environ):
        if name.upper().startswith("RAGREC_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def check_ragrec_command(args: list[str], where: str) -> None:
    """Fails unless `ragrec ARGS` names a real command with real options: `--help` is appended, so nothing runs,
    but click still refuses an unknown command or option (exit 2)."""
    assert args, f"{where}: no ragrec command"
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{where}: `ragrec {' '.join(args)}` is not a valid ragrec command:\n{result.output}"


def is_ragrec_image(image: str | None) -> bool:
    """`ragrec:0.1.0`, `registry.example.com/team/ragrec:0.1.0`, `${APP_IMAGE:-ragrec:0.1.0}`..."""
    if not image:
        return False
    image = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", image)
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0] == IMAGE


# --- Dockerfile ------------------------------------------------------------------------------------------------

def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD; shell form is refused (signals would go to /bin/sh)."""
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not an exec-form array: {arguments}"
    return value


def dockerfile_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ENV of the final stage (KEY=VALUE pairs; values here contain no spaces)."""
    env: dict[str, str] = {}
    for word, rest in final_stage(path):
        if word == "ENV":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


# --- compose ---------------------------------------------------------------------------------------------------

def compose_file() -> dict[str, Any]:
    """The compose file as YAML (anchors and `<<` merges resolved, ${...} left as written)."""
    return yaml.safe_load(COMPOSE.read_text())


def find_docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if not exe:
        pytest.skip("docker-compose is not installed: `make test` installs Debian's (infra/compose-test.sh, "
                    "apt-get as root); or apt-get install docker-compose")
    return exe


# --- Kubernetes ------------------------------------------------------------------------------------------------

def k8s_files() -> list[Path]:
    """Every manifest: the applied ones and the *.example.yaml ones (the kustomization itself is not a resource)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_resources() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in k8s_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    kind, spec = resource["kind"], resource.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        return spec["template"]["spec"]
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_labels(resource: dict[str, Any]) -> dict[str, str]:
    spec = resource["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if resource["kind"] == "CronJob" else spec["template"]
    return template["metadata"].get("labels", {})


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    return [] if spec is None else [*spec.get("initContainers", []), *spec["containers"]]
