"""``kubernetes=true``: ``deploy/kubernetes/``, each overlay built with ``kubectl kustomize``
and every object validated against the Kubernetes schemas (``kubernetes-validate
--strict``), for one variant per worker. No cluster is needed and none is faked: what runs
there is the image the compose stack boots (tests/test_variants.py, the smoke stack in CI).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests import support
from tests.variants import PACKAGE_NAME, VARIANTS_BY_ID, Variant

SLUG = "acme-cloud"
OVERLAYS = ("staging", "production")
# A current Kubernetes: the newest the validator knows.
KUBERNETES_VERSION = kubernetes_validate.latest_version()
# One variant per worker (and celery's other broker); both db_modes and both auth answers.
KUBERNETES_VARIANTS = [
    VARIANTS_BY_ID[name]
    for name in (
        "async-auth-none",
        "sync-noauth-celery-rabbitmq",
        "async-auth-celery",
        "async-auth-rq",
        "sync-auth-taskiq",
        "async-noauth-procrastinate",
    )
]


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (Debian: apt install kubernetes-client)")
    return found


def build(kubectl: str, project: Path, overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects `kubectl kustomize` makes of an overlay, by kind and name, each one
    validated; its secret.env made from the example first, as the README says."""
    folder = project / "deploy" / "kubernetes" / "overlays" / overlay
    shutil.copy(folder / "secret.env.example", folder / "secret.env")
    built = support.run([kubectl, "kustomize", folder], cwd=project).stdout
    objects = [item for item in yaml.safe_load_all(built) if item]
    for item in objects:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
    return {(item["kind"], item["metadata"]["name"]): item for item in objects}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS, ids=lambda v: v.id)
def test_each_overlay_builds_and_follows_the_schemas(
    copie: Any, template_root: Path, kubectl: str, variant: Variant
) -> None:
    answers = {**variant.answers, "kubernetes": True}
    result = copie.copy(extra_answers=answers, template_dir=template_root)
    assert result.exception is None, result.exception
    project: Path = result.project_dir
    assert not support.rendered_problems(project)
    deploy = project / "deploy" / "kubernetes"
    assert "secret.env" in (deploy / ".gitignore").read_text().split()
    derived = variant.derived
    for overlay in OVERLAYS:
        objects = build(kubectl, project, overlay)
        namespaces = {item["metadata"].get("namespace") for item in objects.values()}
        assert namespaces == {f"{SLUG}-{overlay}"}
        config = next(name for kind, name in objects if kind == "ConfigMap")
        secret = next(name for kind, name in objects if kind == "Secret")

        api = objects[("Deployment", f"{SLUG}-api")]
        assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        served = container(api)
        # The image's own command (uvicorn): the API does not migrate as it starts.
        assert "command" not in served
        assert served["image"] == f"registry.example.com/{SLUG}:0.1.0"
        assert served["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert served["livenessProbe"]["httpGet"]["path"] == "/health"
        assert served["startupProbe"]["httpGet"]["path"] == "/health"
        assert served["securityContext"]["readOnlyRootFilesystem"] is True
        assert served["securityContext"]["capabilities"]["drop"] == ["ALL"]
        pod = api["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        # Longer than the preStop pause and uvicorn's --timeout-graceful-shutdown together.
        assert pod["terminationGracePeriodSeconds"] > 5 + 20
        # The generated ConfigMap and Secret, by the names kustomize gave them.
        assert served["envFrom"] == [
            {"configMapRef": {"name": config}},
            {"secretRef": {"name": secret}},
        ]
        assert objects[("HorizontalPodAutoscaler", f"{SLUG}-api")]["spec"]["minReplicas"] >= 2
        assert ("PodDisruptionBudget", f"{SLUG}-api") in objects
        assert ("Service", f"{SLUG}-api") in objects
        ingress = objects[("Ingress", f"{SLUG}-api")]
        assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]

        migrate = objects[("Job", f"{SLUG}-migrate")]
        (job,) = migrate["spec"]["template"]["spec"]["containers"]
        assert job["command"] == ["python", "-m", f"{PACKAGE_NAME}.prestart"]

        worker = objects.get(("Deployment", f"{SLUG}-worker"))
        assert (worker is not None) == derived["has_worker"]
        if worker is not None:
            assert container(worker)["command"] == variant.worker_command()

        policy = objects[("NetworkPolicy", SLUG)]
        ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
        assert 5432 in ports
        assert (6379 in ports) == derived["uses_redis"]
        assert (5672 in ports) == derived["uses_rabbitmq"]
        assert (587 in ports) == variant.auth


def test_the_validator_refuses_what_kubernetes_would() -> None:
    """The check can fail: a field no container has is refused."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "replica": 2}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("answers", [{}, {"kubernetes": True, "docker": False}])
def test_no_manifests_unless_asked_with_docker(
    copie: Any, template_root: Path, answers: dict[str, Any]
) -> None:
    base = VARIANTS_BY_ID["async-auth-none"].answers
    result = copie.copy(extra_answers={**base, **answers}, template_dir=template_root)
    assert result.exception is None, result.exception
    assert not (result.project_dir / "deploy").exists()
