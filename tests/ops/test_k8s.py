"""deploy/k8s, checked without a cluster: every manifest is valid by the Kubernetes schemas
(vendored, strict: an unknown field is an error; see tests/ops/README.md), every
kustomization's resources and patches exist, and the shape the deployment relies on holds:
probes, one beat, an HPA and PDBs that select real pods, secrets referenced never inlined."""

import gzip
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from tests.workers import ROOT

K8S = ROOT / "deploy" / "k8s"
SCHEMAS = Path(__file__).parent / "k8s-schemas"
DEFINITIONS = json.loads(
    gzip.decompress((SCHEMAS / "v1.33.0-strict-definitions.json.gz").read_bytes())
)
KEDA = json.loads((SCHEMAS / "keda-scaledobject-v1alpha1.json").read_text())
REGISTRY = Registry().with_resource(DEFINITIONS["$id"], Resource.from_contents(DEFINITIONS))

# (apiVersion, kind) → the definition in the Kubernetes OpenAPI document.
KINDS = {
    ("v1", "ConfigMap"): "io.k8s.api.core.v1.ConfigMap",
    ("v1", "Service"): "io.k8s.api.core.v1.Service",
    ("apps/v1", "Deployment"): "io.k8s.api.apps.v1.Deployment",
    ("batch/v1", "Job"): "io.k8s.api.batch.v1.Job",
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
    ): "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "io.k8s.api.policy.v1.PodDisruptionBudget",
}


def validator_for(doc: dict):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key == ("keda.sh/v1alpha1", "ScaledObject"):
        return jsonschema.Draft202012Validator(KEDA)
    assert key in KINDS, f"no schema for {key}: add it to KINDS"
    return jsonschema.Draft202012Validator(
        {"$ref": f"{DEFINITIONS['$id']}#/$defs/{KINDS[key]}"}, registry=REGISTRY
    )


def errors(doc: dict) -> list[str]:
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    return sorted(
        f"{where} {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator_for(doc).iter_errors(doc)
    )


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def resources_of(kustomization: Path) -> list[dict]:
    """Every document a kustomization brings in, its bases' included (patches aside)."""
    spec = yaml.safe_load(kustomization.read_text())
    docs = []
    for entry in spec.get("resources", []):
        target = (kustomization.parent / entry).resolve()
        if target.is_dir():
            docs += resources_of(target / "kustomization.yaml")
        else:
            docs += [d for d in yaml.safe_load_all(target.read_text()) if d]
    return docs


def patch_files() -> set[Path]:
    return {
        (k.parent / patch["path"]).resolve()
        for k in kustomizations()
        for patch in yaml.safe_load(k.read_text()).get("patches", [])
    }


def all_documents() -> list[dict]:
    """Every whole manifest (patches are partial by design: see the patch test)."""
    return [
        d
        for path in sorted(K8S.rglob("*.yaml"))
        if path.name != "kustomization.yaml" and path.resolve() not in patch_files()
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]


BASE = {
    (d["kind"], d["metadata"]["name"]): d for d in resources_of(K8S / "base/kustomization.yaml")
}


def test_the_vendored_schemas_are_what_the_readme_says():
    assert DEFINITIONS["$id"] == "https://kubernetes.io/api/_definitions.json"
    assert "io.k8s.api.apps.v1.Deployment" in DEFINITIONS["$defs"]
    jsonschema.Draft202012Validator.check_schema(KEDA)


@pytest.mark.parametrize("kustomization", kustomizations(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_resource_and_patch_of_a_kustomization_exists(kustomization):
    spec = yaml.safe_load(kustomization.read_text())
    assert spec["kind"] == "Kustomization"
    for entry in spec.get("resources", []):
        target = kustomization.parent / entry
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    for patch in spec.get("patches", []):
        assert (kustomization.parent / patch["path"]).is_file(), patch


def test_every_patch_targets_an_object_of_the_base():
    for path in patch_files():
        for patch in yaml.safe_load_all(path.read_text()):
            assert (patch["kind"], patch["metadata"]["name"]) in BASE, path


def test_every_manifest_is_valid_by_the_kubernetes_schemas():
    docs = all_documents()
    assert len(docs) == 10  # 9 in the base (2 PDBs), the ScaledObject
    assert [e for d in docs for e in errors(d)] == []


def test_the_schema_check_catches_mistakes():
    web = json.loads(json.dumps(BASE["Deployment", "chatdesk-web"]))
    web["spec"]["replica"] = 3  # a typo: strict schemas refuse unknown fields
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = "10"
    assert len(errors(web)) == 2
    keda = next(d for d in all_documents() if d["kind"] == "ScaledObject")
    del keda["spec"]["scaleTargetRef"]
    assert errors(keda)


def container(name: str) -> dict:
    (only,) = BASE["Deployment", name]["spec"]["template"]["spec"]["containers"]
    return only


def test_web_has_readiness_and_liveness_probes_and_an_hpa_on_cpu():
    web = container("chatdesk-web")
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = BASE["HorizontalPodAutoscaler", "chatdesk-web"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "chatdesk-web",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_beat_is_a_single_replica_that_is_never_doubled():
    beat = BASE["Deployment", "chatdesk-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_pdbs_select_the_pods_of_a_deployment():
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for (kind, name), d in BASE.items()
        if kind == "Deployment"
    }
    pdbs = [d for (kind, _), d in BASE.items() if kind == "PodDisruptionBudget"]
    assert {p["metadata"]["name"] for p in pdbs} == {"chatdesk-web", "chatdesk-worker"}
    for pdb in pdbs:
        wanted = pdb["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= pods[pdb["metadata"]["name"]].items()


def test_the_migrations_job_runs_migrate():
    job = BASE["Job", "chatdesk-migrate"]
    (only,) = job["spec"]["template"]["spec"]["containers"]
    assert only["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_secrets_are_referenced_never_inlined():
    docs = all_documents()
    assert not [d for d in docs if d["kind"] == "Secret"]
    text = "\n".join(p.read_text() for p in K8S.rglob("*.yaml"))
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "OPENAI_API_KEY", "DATABASE_URL"):
        assert name not in text
    for kind, name in (
        ("Deployment", n) for n in ("chatdesk-web", "chatdesk-worker", "chatdesk-beat")
    ):
        refs = container(name)["envFrom"]
        assert {"secretRef": {"name": "chatdesk-secrets"}} in refs, (kind, name)


def test_the_keda_overlay_scales_the_worker_on_the_celery_queue():
    keda = next(
        d
        for d in resources_of(K8S / "overlays/keda/kustomization.yaml")
        if d["kind"] == "ScaledObject"
    )
    assert keda["spec"]["scaleTargetRef"]["name"] == "chatdesk-worker"
    (trigger,) = keda["spec"]["triggers"]
    assert (trigger["type"], trigger["metadata"]["listName"]) == ("redis", "chatdesk")
