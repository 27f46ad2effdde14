"""infra/docker-compose.yml: Debian's docker-compose 1.29 accepts it (`config -q`, offline, no daemon), the
environment it hands each ragrec container loads into Settings, and the services wait for what they need."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.infra.conftest import (
    COMPOSE,
    ENV_EXAMPLE,
    check_ragrec_command,
    compose_file,
    find_docker_compose,
    is_ragrec_image,
    load_settings,
    unknown_settings,
)


def compose(*args: str, file=COMPOSE, cwd=None) -> subprocess.CompletedProcess:
    # --env-file: the placeholders of .env.example stand in for infra/.env (which holds the real secrets)
    return subprocess.run([find_docker_compose(), "-f", str(file), "--env-file", str(ENV_EXAMPLE), *args],
                          check=False, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_docker_compose_accepts_the_file(tmp_path):
    result = compose("config", "-q", cwd=tmp_path)
    assert result.returncode == 0, f"docker-compose config -q:\n{result.stderr}"


def test_docker_compose_refuses_a_broken_copy(tmp_path):
    """The validator is live: a misspelled key and an unknown depends_on condition are refused."""
    text = COMPOSE.read_text()
    for broken in (text.replace("    depends_on:", "    depend_on:"),
                   text.replace("condition: service_healthy", "condition: service_ready")):
        assert broken != text
        copy = tmp_path / "docker-compose.yml"
        copy.write_text(broken)
        result = compose("config", "-q", file=copy, cwd=tmp_path)
        assert result.returncode != 0, "docker-compose accepted a broken file"


def test_a_missing_secret_stops_compose(tmp_path):
    """${VAR:?message}: without infra/.env the stack refuses to start rather than run with empty keys."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run([find_docker_compose(), "-f", str(COMPOSE), "--env-file", str(empty), "config", "-q"],
                            check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and "infra/.env" in result.stderr, result.stderr


def test_resolved_environment_loads_into_settings(tmp_path, monkeypatch):
    """What docker-compose really hands each ragrec container (variables substituted from .env.example, anchors
    merged) is made of Settings fields, and Settings accepts the values."""
    result = compose("config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    ragrec = {name: s for name, s in services.items() if is_ragrec_image(s.get("image"))}
    assert set(ragrec) == {"ingest", "api", "api-cpu"}
    for name, service in ragrec.items():
        env = {k: str(v) for k, v in service["environment"].items()}
        assert not unknown_settings(env), f"{name}: not Settings fields: {unknown_settings(env)}"
        settings = load_settings(env, monkeypatch)
        assert settings.qdrant_url == "http://qdrant:6333" and settings.qdrant_api_key
        assert settings.events_url.startswith("postgresql://ragrec:")
        assert set(settings.api_keys.values()) == {"client", "admin"}
    gpu = load_settings({k: str(v) for k, v in ragrec["api"]["environment"].items()}, monkeypatch)
    vllm = services["vllm"]["command"]
    assert (gpu.llm, gpu.llm_server) == ("openai", "vllm")
    # vLLM serves the model under its own id (no alias: ragrec hashes the name into its catalog blurbs)
    assert gpu.llm_model == vllm[0], "ragrec asks for the model vLLM serves"
    # the key reaches vLLM as VLLM_API_KEY, not on its command line
    assert gpu.llm_api_key == services["vllm"]["environment"]["VLLM_API_KEY"]
    assert gpu.llm_top_logprobs <= int(vllm[vllm.index("--max-logprobs") + 1])
    cpu = load_settings({k: str(v) for k, v in ragrec["api-cpu"]["environment"].items()}, monkeypatch)
    assert cpu.llm == "local", "the CPU profile runs the bundled LLM in the API process"


# --- the file's structure (no docker-compose needed) ------------------------------------------------------------

def test_ragrec_services_run_real_commands():
    for name, service in compose_file()["services"].items():
        if is_ragrec_image(service.get("image")):
            assert "entrypoint" not in service, f"{name}: the image's entrypoint is `ragrec`"
            check_ragrec_command([str(a) for a in service["command"]], f"docker-compose.yml, service {name}")


def test_every_awaited_service_can_become_healthy():
    """`condition: service_healthy` on a service without a healthcheck never resolves: each one has its own, or
    is the ragrec image (HEALTHCHECK in infra/Dockerfile). A one-shot job is awaited by completion instead."""
    services = compose_file()["services"]
    for name, service in services.items():
        for target, how in service.get("depends_on", {}).items():
            condition = how["condition"]
            check = services[target].get("healthcheck", {})
            if condition == "service_healthy":
                assert (check and not check.get("disable")) or is_ragrec_image(services[target].get("image")), \
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully" and services[target].get("restart") == "no", \
                    f"{name} waits for {target} by {condition}"


def test_profiles_gpu_and_cpu():
    services = compose_file()["services"]
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            # a service that is always on must not wait for one that only a profile starts
            assert set(services[target].get("profiles", [])) <= set(service.get("profiles", [])), \
                f"{name} depends on {target}, which its profiles do not start"
    vllm = services["vllm"]
    assert vllm["profiles"] == ["gpu"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    command = vllm["command"]
    for flag in ("--max-model-len", "--gpu-memory-utilization", "--max-logprobs", "--generation-config"):
        assert flag in command, f"vllm serve {flag}"
    for flag in ("--served-model-name", "--api-key"):
        assert flag not in command, f"vllm serve {flag}: the model under its own id, the key in VLLM_API_KEY"
    assert "VLLM_API_KEY" in vllm["environment"]
    assert services["api"]["profiles"] == ["gpu"] and "vllm" in services["api"]["depends_on"]
    assert services["api-cpu"]["profiles"] == ["cpu"] and "vllm" not in services["api-cpu"]["depends_on"]
    assert services["api-cpu"]["environment"]["RAGREC_LLM"] == "local"
    for always in ("qdrant", "postgres", "ingest"):
        assert "profiles" not in services[always], f"{always} runs in every profile"


@pytest.mark.parametrize("service", ["qdrant", "postgres", "vllm"])
def test_servers_are_pinned(service):
    image = compose_file()["services"][service]["image"]
    assert ":" in image and not image.endswith(":latest"), f"{service}: pin the image version ({image})"
