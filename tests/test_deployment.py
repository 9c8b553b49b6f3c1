"""The deployment artefacts: what they configure is what the assistant reads.

A variable a manifest sets but no setting reads is a silent misconfiguration (a typo,
a renamed setting): the operator believes something is configured that is not.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest
import yaml

from bot.cli import serve_command
from bot.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_VARIABLES = {env_name(name) for name in Settings.__fields__}


def rendered_manifests() -> List[Dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/k8s (CI installs it)")
    output = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s")], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def by_kind(documents: List[Dict[str, Any]], kind: str) -> Dict[str, Dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


@pytest.mark.stack
def test_every_variable_the_kubernetes_manifests_set_is_a_setting() -> None:
    documents = rendered_manifests()
    config_maps = by_kind(documents, "ConfigMap")
    deployments = by_kind(documents, "Deployment")
    assert set(deployments) == {"cybot-rasa", "cybot-actions", "cybot-web"}
    set_variables: Set[str] = set()
    for deployment in deployments.values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            set_variables |= {entry["name"] for entry in container.get("env", [])}
            for source in container.get("envFrom", []):
                set_variables |= set(config_maps[source["configMapRef"]["name"]]["data"])
    unknown = sorted(set_variables - SETTINGS_VARIABLES)
    assert not unknown, f"set but read by no setting: {unknown}"
    assert {"CYBOT_PROFILE", "RASA_TOKEN", "TRACKER_DB_PASSWORD", "REDIS_HOST"} <= set_variables


@pytest.mark.stack
def test_the_cluster_probes_the_real_health_endpoints_and_scales_every_process() -> None:
    documents = rendered_manifests()
    deployments = by_kind(documents, "Deployment")
    probes = {
        name: (
            deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"],
        )
        for name, deployment in deployments.items()
    }
    assert probes["cybot-web"] == ("/readyz", "/healthz")
    assert probes["cybot-actions"] == ("/health", "/health")
    assert probes["cybot-rasa"] == ("/", "/")  # Rasa listens only once its model is loaded
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["args"][:4] == ["python", "-m", "bot", "serve"]
        assert deployment["spec"]["replicas"] >= 2
    autoscalers = by_kind(documents, "HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()} == set(deployments)
    assert by_kind(documents, "Service")["cybot-rasa"]["spec"]["sessionAffinity"] == "ClientIP"
    secret_refs = {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for deployment in deployments.values()
        for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert secret_refs == {"cybot-secrets"}  # secrets are referenced, never written here
    assert "Secret" not in {doc["kind"] for doc in documents}


def test_every_variable_the_compose_file_sets_for_the_assistant_is_a_setting() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.production.yml").read_text(encoding="utf-8"))
    ours = {name: service for name, service in compose["services"].items() if service.get("image") == "cybot:latest"}
    assert set(ours) == {"rasa", "actions", "web"}
    for name, service in ours.items():
        unknown = sorted(set(service["environment"]) - SETTINGS_VARIABLES)
        assert not unknown, f"{name} sets {unknown}, which no setting reads"
        assert service["command"][:5] == ["python", "-m", "bot", "serve", name]
        assert service["deploy"]["replicas"] >= 2


def test_the_image_runs_as_a_user_and_installs_like_a_developer_machine() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.10-slim$", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "scripts/bootstrap.sh" in dockerfile and "requirements.lock" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "var", ".git"} <= set(ignored)  # no local state or secrets in the image


def test_serve_starts_one_process_configured_by_the_settings_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CYBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CYBOT_PROFILE", "production")
    monkeypatch.setenv("RASA_TOKEN", "t" * 32)
    monkeypatch.setenv("ACTION_SERVER_URL", "http://cybot-actions:5055/webhook")
    monkeypatch.setenv("LOCK_LIFETIME_SECONDS", "15")
    from bot.settings import reload_settings

    reload_settings()
    command, env = serve_command("rasa", "0.0.0.0", 5005)
    assert command[1:3] == ["-m", "bot.rasa_server"]  # the launcher's server, not plain `rasa run`
    assert command[command.index("--interface") + 1] == "0.0.0.0"
    assert "t" * 32 not in " ".join(command) and env["RASA_TOKEN"] == "t" * 32  # `ps` never shows it
    assert env["TICKET_LOCK_LIFETIME"] == "15" and env["TF_INTRA_OP_PARALLELISM_THREADS"] == "1"
    endpoints = yaml.safe_load(Path(command[command.index("--endpoints") + 1]).read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["url"] == "http://cybot-actions:5055/webhook"
    assert endpoints["lock_store"]["type"] == "redis"
    command, env = serve_command("web", "0.0.0.0", 8000)
    assert command[-1] == "bot.web" and env["WEB_HOST"] == "0.0.0.0" and env["WEB_PORT"] == "8000"
    command, env = serve_command("actions", "0.0.0.0", 5055)
    assert env["SANIC_HOST"] == "0.0.0.0" and command[-1] == "5055"
