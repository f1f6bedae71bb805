"""docker-compose.yml and Dockerfile, checked by structure (no Docker engine runs here to start them):
pinned tags, healthchecks, ports on 127.0.0.1 only, no secrets in the files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_services_neo4j_explorer_and_ingest(compose):
    assert {"neo4j", "explorer", "ingest"} <= set(compose["services"])


def test_images_are_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name}: no image tag"
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
    assert compose["services"]["neo4j"]["image"] == "neo4j:5.26-community"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base


def test_explorer_is_built_here_and_waits_for_a_healthy_neo4j(compose):
    ex = compose["services"]["explorer"]
    assert ex["build"]["dockerfile"] == "Dockerfile" and (ROOT / ex["build"]["context"] / "Dockerfile").exists()
    assert ex["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert _env(ex)["AMX_STORE"].startswith("bolt://neo4j:")
    assert ex["command"][0] == "amx-explore"
    ing = compose["services"]["ingest"]
    assert ing["entrypoint"] == ["amx-ingest"] and ing["image"] == ex["image"]
    assert any(v.endswith(":/images:ro") for v in ing["volumes"])  # the user's image folder, read-only
    assert ing["depends_on"]["neo4j"]["condition"] == "service_healthy"


def test_servers_have_healthchecks(compose):
    for name, svc in compose["services"].items():
        if "profiles" in svc:  # on-demand jobs
            continue
        hc = svc.get("healthcheck", {})
        assert hc.get("test") and not hc.get("disable"), f"{name}: no healthcheck"
        assert hc.get("interval") and hc.get("retries"), name
    assert "/_stcore/health" in " ".join(compose["services"]["explorer"]["healthcheck"]["test"])
    assert re.search(r"^HEALTHCHECK .*\n?.*_stcore/health", DOCKERFILE.read_text(), re.M)


def test_ports_are_published_on_localhost_only(compose):
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"


def test_no_secrets_in_the_files(compose):
    for name, svc in compose["services"].items():
        for key, value in _env(svc).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|AUTH", key):
                literal = re.sub(r"\$\{[^}]*\}", "", str(value))  # what is left once variables are taken out
                assert literal in ("", "/"), f"{name}: {key} must come from the environment, got {value!r}"
                assert "${NEO4J_PASSWORD:?" in str(value), f"{name}: {key} needs the required-variable guard"
    text = COMPOSE.read_text() + DOCKERFILE.read_text()
    assert not re.search(r"(?i)password\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}", text.replace("NEO4J_PASSWORD", ""))
    assert not re.search(r"bolt://[^/\s\"]*:[^/\s\"]*@", text)  # no user:password in URLs


def test_image_runs_unprivileged_and_ignores_local_state():
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER\s+(?!root)\S+", text, re.M)
    assert "torch==2.9.1" in text and "torchvision==0.24.1" in text  # pyproject's pins
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", "artifacts", ".neo4j"} <= set(ignored)
