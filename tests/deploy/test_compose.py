"""compose.yaml and the Dockerfile say what the README promises (no Docker needed to check).

The processes themselves are tested in test_multi_process.py; this keeps the files in step with
the README: every production variable reaches every callops container, each role is there as
often as promised, and each long-running service has a health check.
"""

from __future__ import annotations

import re

import yaml

from tests.sandbox import REPO_ROOT

CALLOPS_ROLES = ("migrate", "web-1", "web-2", "worker-1", "worker-2", "dial", "beat")


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())


def production_variables() -> set[str]:
    """The variables of the README's table under "Configuration (production)"."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Configuration (production)", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_it_gives_every_callops_container_the_readme_production_variables():
    services = compose()["services"]
    expected = production_variables() - {"CALLOPS_DEMO_REVONT_RECORDS_PER_HOUR"}  # make run only
    assert len(expected) > 20
    for role in CALLOPS_ROLES:
        environment = services[role]["environment"]
        assert expected <= set(environment), (role, expected - set(environment))
        assert environment == services["web-1"]["environment"], role


def test_it_runs_two_web_servers_behind_one_port_two_workers_a_dial_worker_and_one_beat():
    services = compose()["services"]
    commands = {name: " ".join(service.get("command") or []) for name, service in services.items()}
    assert [name for name, command in commands.items() if " beat " in f" {command} "] == ["beat"]
    workers = [name for name, command in commands.items() if " worker " in f" {command} "]
    assert workers == ["worker-1", "worker-2", "dial"]
    # Only the dial worker consumes the dial queue: the others never hold a slot's run.
    assert [name for name in workers if "--queues dial" in commands[name]] == ["dial"]
    assert {"postgres", "redis", "sandbox"} <= set(services)
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    nginx = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
    assert re.findall(r"server (web-\d):8000", nginx) == ["web-1", "web-2"]
    # Every callops role is the one image; the command picks the role.
    images = {services[name]["image"] for name in (*CALLOPS_ROLES, "sandbox")}
    assert images == {"callops:latest"}


def test_it_checks_the_health_of_every_long_running_service():
    services = compose()["services"]
    for name, service in services.items():
        if name in ("migrate", "beat"):  # one-off; serves nothing to ask
            assert service["healthcheck"] == {"disable": True}, name
            continue
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert "/readyz" in " ".join(services["web-1"]["healthcheck"]["test"])
    assert "worker_alive" in services["worker-2"]["healthcheck"]["test"]
    assert "worker_alive" in services["dial"]["healthcheck"]["test"]


def test_it_builds_a_slim_multi_stage_image_that_runs_as_a_user():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2 and all(stage.endswith("-slim") for stage in stages)
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "collectstatic" in dockerfile
