"""Every documented environment is real: each env file and each ragrec container's environment in the deployment
files is loaded into Settings, and fails on a RAGREC_* name that is not a Settings field (Settings itself ignores
unknown variables silently, so a misspelled or not-yet-existing setting would otherwise do nothing)."""

from __future__ import annotations

import json
import re

from dotenv import dotenv_values

from tests.infra.conftest import (
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    INFRA,
    ROOT,
    SETTINGS_NAMES,
    compose_file,
    containers,
    dockerfile_env,
    is_ragrec_image,
    k8s_files,
    k8s_resources,
    load_settings,
    unknown_settings,
)

# Settings that issue 15's part 2 (the code) is to add. infra/README.md may name them as coming; no env file,
# manifest or compose environment may set them until they exist (the structured checks below allow no exception).
PENDING: dict[str, str] = {}  # part 2 added its settings (QDRANT_SHARD_NUMBER, ..., COLLAB_DEVICE); none pending


def test_unknown_names_are_caught():
    """The check itself can fail: a misspelling and a pending setting are both unknown today."""
    assert unknown_settings(["RAGREC_QDRANT_URL", "RAGREC_QDRANT_URI", "PATH"]) == ["RAGREC_QDRANT_URI"]
    # once part 2 adds one, this says so: drop it from PENDING and set it in infra/ (k8s/config.yaml, compose)
    now_real = set(PENDING) & SETTINGS_NAMES
    assert not now_real, f"now real settings: {sorted(now_real)}; remove them from PENDING and use them in infra/"


def test_env_example_loads_into_settings(monkeypatch):
    values = {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}
    assert not unknown_settings(values), f"infra/.env.example: not Settings fields: {unknown_settings(values)}"
    ragrec = {k: v for k, v in values.items() if k.startswith("RAGREC_")}
    settings = load_settings(ragrec, monkeypatch)
    assert settings.api_keys == json.loads(values["RAGREC_API_KEYS"])
    # every ${VAR} the compose file substitutes is documented here (compose would otherwise fail or use a default)
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    assert used <= set(values), f"not in infra/.env.example: {used - set(values)}"


def test_compose_environments_are_settings():
    for name, service in compose_file()["services"].items():
        if is_ragrec_image(service.get("image")):
            env = service["environment"]
            assert not unknown_settings(env), f"docker-compose.yml {name}: not Settings fields: {unknown_settings(env)}"


def test_image_env_loads_into_settings(monkeypatch):
    env = dockerfile_env()
    assert not unknown_settings(env), f"infra/Dockerfile ENV: not Settings fields: {unknown_settings(env)}"
    settings = load_settings({k: v for k, v in env.items() if k.startswith("RAGREC_")}, monkeypatch)
    assert str(settings.llm_cache_dir) == "/opt/ragrec/models" and settings.api_host == "0.0.0.0"


def test_kubernetes_container_environments_load_into_settings(monkeypatch):
    """Each ragrec container's environment as the cluster builds it (the image's ENV, then the ConfigMap, then its
    own env with secretKeyRefs resolved against secrets.example.yaml) is made of Settings fields and loads."""
    resources = k8s_resources()
    configmaps = {r["metadata"]["name"]: r["data"] for _, r in resources if r["kind"] == "ConfigMap"}
    secrets = {r["metadata"]["name"]: r["stringData"] for _, r in resources if r["kind"] == "Secret"}
    checked = 0
    for path, resource in resources:
        for container in containers(resource):
            if not is_ragrec_image(container["image"]):
                continue
            where = f"{path.name}: {resource['metadata']['name']}/{container['name']}"
            env = dict(dockerfile_env())
            for source in container.get("envFrom", []):
                env.update(configmaps[source["configMapRef"]["name"]])
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                env[var["name"]] = secrets[ref["name"]][ref["key"]] if ref else var.get("value", "")
            assert not unknown_settings(env), f"{where}: not Settings fields: {unknown_settings(env)}"
            settings = load_settings({k: v for k, v in env.items() if k.startswith("RAGREC_")}, monkeypatch)
            assert settings.qdrant_url == "http://qdrant:6333" and settings.qdrant_api_key, where
            checked += 1
    assert checked == 3, "the API, the ingestion job and the reindex CronJob"


def test_documented_names_are_settings_or_pending():
    """Prose and comments too: infra/README.md, the root README's Deployment section and every deployment file
    name only real settings, or ones PENDING lists (the README says they are coming)."""
    sections = (ROOT / "README.md").read_text().split("\n## ")
    deployment = next(s for s in sections if s.startswith("Deployment"))
    texts = {"README.md (Deployment)": deployment, "infra/README.md": (INFRA / "README.md").read_text()}
    for path in (DOCKERFILE, COMPOSE, ENV_EXAMPLE, *k8s_files(), INFRA / "k8s" / "kustomization.yaml"):
        texts[str(path.relative_to(ROOT))] = path.read_text()
    for where, text in texts.items():
        names = set(re.findall(r"\bRAGREC_[A-Z0-9_]*[A-Z0-9]\b", text))
        unknown = [n for n in unknown_settings(names) if n not in PENDING]
        assert not unknown, f"{where} names settings that do not exist: {unknown}"
