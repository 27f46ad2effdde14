"""infra/k8s/: every manifest validates in strict mode against the Kubernetes schemas kubernetes-validate ships
(offline), the references between objects resolve, and the ragrec containers run real ragrec commands."""

from __future__ import annotations

import pytest
import yaml

from tests.infra.conftest import (
    K8S,
    check_ragrec_command,
    containers,
    is_ragrec_image,
    k8s_files,
    k8s_resources,
    pod_labels,
    pod_spec,
)

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed: pip install -e '.[test]' brings it")

# The oldest and the newest minor of the three the Kubernetes project supports when this was written (1.35-1.37);
# kubernetes-validate 1.37.0 ships schemas for 1.25-1.37.
VERSIONS = ["1.35", "1.37"]


def validate(resource: dict, version: str) -> None:
    """Strict: unknown fields are errors. A kind/apiVersion without a schema (a typo, or an API removed in that
    version) is an error too: kubernetes-validate's command line only warns about it."""
    kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version):
    resources = k8s_resources()
    assert len(resources) >= 12
    for path, resource in resources:
        try:
            validate(resource, version)
        except Exception as exc:  # noqa: BLE001 - name the file and object, whatever the validator raised
            message = getattr(exc, "message", str(exc))
            pytest.fail(f"{path.name}: {resource['kind']}/{resource['metadata']['name']} against {version}: {message}")


def test_the_validator_rejects_what_it_should():
    """It is live: a misspelled field, a wrong type and an API that no longer exists are all refused."""
    deployment = next(r for _, r in k8s_resources() if r["kind"] == "Deployment")
    misspelled = yaml.safe_load(yaml.safe_dump(deployment))
    container = misspelled["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "two"
    removed = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"},
               "spec": {"maxUnavailable": 1}}
    for bad in (misspelled, wrong_type, removed):
        with pytest.raises((kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError)):
            validate(bad, VERSIONS[0])


def test_kustomization_applies_every_manifest_but_the_examples_and_the_ingest_job():
    """The ingestion Job is created on its own (infra/README.md): its pod template is immutable, so `apply -k` with
    a new image would fail on it, and would start a new ingestion once its TTL has removed it."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    applied = {p.name for p in k8s_files() if not p.name.endswith(".example.yaml")} - {"ingest-job.yaml"}
    assert set(kustomization["resources"]) == applied
    assert {i["name"] for i in kustomization["images"]} == {"ragrec"}


def by_kind(kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for _, r in k8s_resources() if r["kind"] == kind}


def test_references_resolve():
    """Selectors select pods, the HPA scales a Deployment that exists, and every ConfigMap/Secret a container
    reads exists with the keys it reads (the Secret's in secrets.example.yaml)."""
    workloads = [r for _, r in k8s_resources() if pod_spec(r) is not None]
    labels = [pod_labels(r) for r in workloads]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, resource in by_kind(kind).items():
            selector = resource["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= pod.items() for pod in labels), f"{kind} {name} selects no pod"
    for name, hpa in by_kind("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["name"] in by_kind(target["kind"]), f"HPA {name}: no {target['kind']} {target['name']}"
        deployment = by_kind(target["kind"])[target["name"]]
        assert all(c.get("resources", {}).get("requests", {}).get("cpu") for c in containers(deployment)), \
            "a CPU-utilization HPA needs CPU requests"
    configmaps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    for workload in workloads:
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, where
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], f"{where}: secret key {ref['key']}"
        for claim in (v["persistentVolumeClaim"]["claimName"] for v in pod_spec(workload).get("volumes", [])
                      if "persistentVolumeClaim" in v):
            assert claim in by_kind("PersistentVolumeClaim"), f"{workload['metadata']['name']}: no PVC {claim}"


def test_ragrec_containers_run_real_commands():
    seen = set()
    for path, resource in k8s_resources():
        for container in containers(resource):
            if is_ragrec_image(container["image"]):
                assert "command" not in container, "the image's entrypoint is `ragrec`: pass args only"
                check_ragrec_command(container["args"], f"{path.name}: {resource['metadata']['name']}")
                seen.add(container["args"][0])
    assert seen == {"serve", "ingest", "reindex"}


def test_qdrant_cluster():
    statefulset = by_kind("StatefulSet")["qdrant"]
    spec = statefulset["spec"]
    assert spec["replicas"] == 3 and spec["volumeClaimTemplates"]
    headless = by_kind("Service")[spec["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"]
    assert 6335 in {p["port"] for p in headless["spec"]["ports"]}, "the p2p port resolves per pod"
    container = containers(statefulset)[0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QDRANT__CLUSTER__ENABLED"] == "true" and env["QDRANT__CLUSTER__P2P__PORT"] == "6335"
    assert "QDRANT__SERVICE__API_KEY" in env
    script = container["args"][0]
    assert "--bootstrap" in script and f"{spec['serviceName']}:6335" in script
    pdb = by_kind("PodDisruptionBudget")["qdrant"]
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["maxUnavailable"] == 1
    assert "startupProbe" in container and env["QDRANT__STORAGE__SNAPSHOTS_PATH"].startswith(
        container["volumeMounts"][0]["mountPath"]), "a slow load is not killed; snapshots outlive the pod"


def test_only_qdrant_nodes_reach_the_peer_port_and_only_ragrec_pods_the_api():
    """The API key does not guard the p2p port (6335), which can write: the NetworkPolicy admits the other Qdrant
    nodes only, and to 6333/6334 the Qdrant nodes and every ragrec workload that talks to Qdrant."""
    policy = by_kind("NetworkPolicy")["qdrant"]["spec"]
    qdrant = pod_labels(by_kind("StatefulSet")["qdrant"])
    assert policy["podSelector"]["matchLabels"].items() <= qdrant.items() and policy["policyTypes"] == ["Ingress"]

    def admitted(labels: dict, port: int) -> bool:
        for rule in policy["ingress"]:
            if port not in {p["port"] for p in rule["ports"]}:
                continue
            for peer in rule["from"]:
                selector = peer["podSelector"]
                if selector.get("matchLabels", {}).items() <= labels.items() and all(
                        labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])):
                    return True
        return False

    assert admitted(qdrant, 6335) and admitted(qdrant, 6333)
    ragrec = [r for _, r in k8s_resources() if any(is_ragrec_image(c["image"]) for c in containers(r))]
    assert {r["kind"] for r in ragrec} >= {"Deployment", "Job", "CronJob"}
    for workload in ragrec:
        labels = pod_labels(workload)
        assert admitted(labels, 6333) and admitted(labels, 6334), workload["metadata"]["name"]
        assert not admitted(labels, 6335), workload["metadata"]["name"]
    assert not admitted({"app.kubernetes.io/name": "vllm"}, 6333)


def test_api_probes_autoscaling_jobs_and_vllm():
    api = containers(by_kind("Deployment")["ragrec-api"])[0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz", "a Qdrant outage must not restart the API"
    assert by_kind("HorizontalPodAutoscaler")["ragrec-api"]["apiVersion"] == "autoscaling/v2"
    job = by_kind("Job")["ragrec-ingest"]
    assert job["apiVersion"] == "batch/v1" and job["spec"]["completionMode"] == "Indexed"
    cron = by_kind("CronJob")["ragrec-reindex"]
    assert cron["apiVersion"] == "batch/v1" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    vllm = containers(by_kind("Deployment")["vllm"])[0]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    args = vllm["args"]
    config = by_kind("ConfigMap")["ragrec-config"]["data"]
    # served under its own id (ragrec hashes the name into its catalog blurbs); the key as VLLM_API_KEY, not an arg
    assert config["RAGREC_LLM_MODEL"] == args[0] and "--served-model-name" not in args
    assert "--api-key" not in args and "VLLM_API_KEY" in {e["name"] for e in vllm["env"]}
    assert int(config["RAGREC_LLM_TOP_LOGPROBS"]) <= int(args[args.index("--max-logprobs") + 1])
    port = by_kind("Service")["vllm"]["spec"]["ports"][0]["port"]
    assert config["RAGREC_LLM_BASE_URL"].startswith(f"http://vllm:{port}/")


def test_ingest_job_pods_each_take_one_shard():
    """Pod I of the Indexed Job runs `ingest --shard I/N` with N = completions: every index parses as a shard (as
    Kubernetes expands $(JOB_COMPLETION_INDEX) from the container's env), and together they cover the catalog."""
    from ragrec.ingestion import Shard

    job = by_kind("Job")["ragrec-ingest"]
    spec, [container] = job["spec"], containers(job)
    args = container["args"]
    template = args[args.index("--shard") + 1]
    assert "$(JOB_COMPLETION_INDEX)" in template
    env = {e["name"]: e for e in container["env"]}
    assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    shards = [Shard.parse(template.replace("$(JOB_COMPLETION_INDEX)", str(i))) for i in range(spec["completions"])]
    assert {s.count for s in shards} == {spec["completions"]} and 1 <= spec["parallelism"] <= spec["completions"]
    assert "--sync" not in args and "--rebuild" not in args
