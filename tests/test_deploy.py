"""The deployment example is consistent: compose services, their settings, the proxy, the image.

Docker is not available where the tests run, so the files are parsed and cross-checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from townhall.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


# Settings the compose file sets that the worker/observability work adds to config.py
# (Redis, JSON logs, the metrics token). Once a name is a real setting, the test below fails
# until it is removed from here, so this list cannot go stale.
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_the_compose_file_has_every_process(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert {"postgres", "redis", "migrate", "proxy"} <= set(services)
    web = [name for name, s in services.items() if s.get("command") == ["serve"]]
    workers = [s for s in services.values() if s.get("command") == ["worker"]]
    assert len(web) == 2
    assert sum(s.get("deploy", {}).get("replicas", 1) for s in workers) == 3
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in [*web, "worker"]:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
    # The app image is built from the repository's Dockerfile.
    for name in ["migrate", *web, "worker"]:
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile"


def test_every_townhall_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = set(Settings.model_fields)
    used: set[str] = set()
    for name, service in _services(compose).items():
        for key in service.get("environment") or {}:
            if key.startswith("TOWNHALL_"):
                setting = key.removeprefix("TOWNHALL_").lower()
                used.add(setting)
                assert setting in known, f"{name}: {key} is no setting"
    app_env = _services(compose)["worker"]["environment"]
    assert app_env["TOWNHALL_ENV"] == "production"
    assert app_env["TOWNHALL_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert app_env["TOWNHALL_REDIS_URL"].startswith("redis://redis:")
    assert app_env["TOWNHALL_LOG_FORMAT"] == "json"
    assert app_env["TOWNHALL_EMBEDDED_WORKER"] == "false"
    # Every setting the deployment uses is explained in the guide.
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for setting in used:
        assert f"TOWNHALL_{setting.upper()}" in guide, setting


def test_the_env_example_defines_what_compose_requires(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required and required <= example, required - example


def test_the_proxy_sends_to_web_services_that_exist(compose: dict[str, Any]) -> None:
    services = _services(compose)
    config = (DEPLOY / "nginx.conf").read_text()
    upstreams = re.findall(r"server (\S+):8000", config)
    web = sorted(name for name, s in services.items() if s.get("command") == ["serve"])
    assert sorted(upstreams) == web
    for name in web:
        assert services[name]["environment"]["TOWNHALL_PORT"] == "8000"
        assert "ports" not in services[name], "web must only be reachable through the proxy"
    mounted = services["proxy"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).resolve() == DEPLOY / "nginx.conf"


def test_the_dockerfile_installs_the_package_on_python_311() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["townhall"]' in dockerfile
    assert re.search(r"^USER \w+", dockerfile, re.MULTILINE), "do not run as root"
