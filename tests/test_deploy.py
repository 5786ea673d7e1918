"""The deployment files agree with each other and with the code: compose.yaml runs one
PostgreSQL and two app servers with their own index volumes behind a proxy that keeps a
browser tab on one server; docs/deploy.md shows only commands and options `knownfix` has.
No Docker needed: the files are read, not run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
import yaml

from api.app import PREFIX, create_app
from cli.main import app as cli_app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
APPS = ("app1", "app2")
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def proxy_config() -> str:
    """The proxy's configuration file, found through the proxy service's mounts."""
    sources = [v.split(":")[0] for v in SERVICES["proxy"]["volumes"]]
    configs = [ROOT / s for s in sources if s.startswith("./deploy/")]
    assert len(configs) == 1, sources
    return configs[0].read_text(encoding="utf-8")


def backend(config: str, name: str) -> str:
    """The lines of one HAProxy backend section."""
    found = re.search(rf"^backend {name}\n(.*?)(?=^\S|\Z)", config, re.M | re.S)
    assert found, f"no backend {name}"
    return found.group(1)


# -- compose.yaml ---------------------------------------------------------------------------

def test_compose_runs_a_database_two_app_servers_and_a_proxy():
    assert set(SERVICES) == {"db", "app1", "app2", "proxy"}
    assert SERVICES["db"]["image"].startswith("postgres:15")
    for name in APPS:
        assert SERVICES[name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_both_app_servers_share_the_database_and_keep_their_own_index():
    urls = {SERVICES[a]["environment"]["KNOWNFIX_DATABASE_URL"] for a in APPS}
    assert len(urls) == 1
    url = urls.pop()
    assert url.startswith("postgresql://") and "@db:5432/" in url
    assert ":" not in url.split("//")[1].split("@")[0], "the password belongs in PGPASSWORD"
    data = {a: [v.split(":")[0] for v in SERVICES[a]["volumes"] if v.endswith(":/data")]
            for a in APPS}
    assert all(len(v) == 1 for v in data.values()), data
    assert data["app1"] != data["app2"]
    assert {data["app1"][0], data["app2"][0]} <= set(COMPOSE["volumes"])


@pytest.mark.parametrize("service", ["db", "app1", "app2", "proxy"])
def test_every_service_has_a_health_check(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] == "CMD" and len(test) > 1


def test_the_app_servers_check_the_same_addresses_as_the_image():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])\s*$", dockerfile, re.M | re.S)
    assert found, "the Dockerfile needs a HEALTHCHECK"
    image_check = json.loads(found.group(1))
    assert f"8600{PREFIX}/health" in image_check[-1]
    for name in APPS:
        assert SERVICES[name]["healthcheck"]["test"][1:] == image_check


def test_the_api_health_address_the_checks_use_exists():
    paths = create_app(desk=None).openapi()["paths"]  # the routes; no Desk needed for them
    assert "get" in paths[f"{PREFIX}/health"]


def test_the_app_servers_trust_the_proxy_and_only_the_proxy():
    proxy_ip = SERVICES["proxy"]["networks"]["knownfix"]["ipv4_address"]
    for name in APPS:
        assert SERVICES[name]["environment"]["KNOWNFIX_TRUSTED_PROXIES"] == proxy_ip


# -- the proxy ------------------------------------------------------------------------------

def test_the_app_is_sticky_by_cookie_on_both_servers():
    app = backend(proxy_config(), "app")
    assert re.search(r"^\s*cookie \w+ insert", app, re.M)
    servers = re.findall(r"^\s*server (\w+) (\w+):8501 check cookie (\w+)", app, re.M)
    assert sorted(s[1] for s in servers) == list(APPS)
    assert len({s[2] for s in servers}) == 2  # each server its own cookie value
    assert "option httpchk GET /_stcore/health" in app


def test_the_api_and_portal_are_balanced_without_stickiness():
    config = proxy_config()
    api = backend(config, "api")
    assert "balance roundrobin" in api and not re.search(r"\bcookie\b", api)
    assert sorted(re.findall(r"^\s*server \w+ (\w+):8600 check", api, re.M)) == list(APPS)
    assert f"option httpchk GET {PREFIX}/health" in api
    assert re.search(r"use_backend api if .*path_beg /api/.*path_beg /portal/", config)


def test_the_proxy_sets_the_client_address_instead_of_passing_it_on():
    assert "http-request set-header X-Forwarded-For %[src]" in proxy_config()


# -- docs/deploy.md -------------------------------------------------------------------------

def shown_commands(text: str) -> list[list[str]]:
    """The words after every `knownfix` that starts a command in the text's code (fenced
    blocks, with their backslash continuations, and inline code): at the start, after
    `&&` or `;`, or after a Compose service (`exec app1 knownfix …`); up to a shell
    comment or operator.  (`createdb -O knownfix knownfix` names a role, not a command.)"""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    lines = [line for block in fenced for line in block.replace("\\\n", " ").splitlines()]
    lines += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    shown = []
    for line in lines:
        for found in re.finditer(r"(?:^|&&|;|\bapp\d)\s*knownfix\s+(\S.*)", line):
            words = re.split(r"\s(?:#|&&|\|\|?|;)", found.group(1))[0].split()
            shown.append(words)
    return shown


def unknown_parts(words: list[str]) -> list[str]:
    """The command words and options of `knownfix WORDS` that the CLI does not have."""
    command = typer.main.get_command(cli_app)
    words = list(words)
    while hasattr(command, "commands"):  # a command group
        group_options = {o for p in command.params for o in p.opts}
        while words and words[0] in group_options:  # `knownfix --progress import …`
            words.pop(0)
        if not words or words[0] not in command.commands:
            return [words[0] if words else "(no command)"]
        command = command.commands[words.pop(0)]
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    return [w.split("=")[0] for w in words
            if re.match(r"--?[a-zA-Z]", w) and w.split("=")[0] not in options]


DOC_COMMANDS = shown_commands(DEPLOY_DOC.read_text(encoding="utf-8"))


def test_the_deploy_guide_shows_commands():
    assert len(DOC_COMMANDS) >= 10
    assert {"serve", "backup", "restore", "check-backup", "migrate"} <= {
        w[0] for w in DOC_COMMANDS}


@pytest.mark.parametrize("words", DOC_COMMANDS, ids=" ".join)
def test_every_command_the_deploy_guide_shows_exists(words):
    assert unknown_parts(words) == [], f"docs/deploy.md shows `knownfix {' '.join(words)}`"


def test_the_command_check_catches_what_does_not_exist():
    assert unknown_parts(["serve", "--port", "1", "--api-port=2"]) == []
    assert unknown_parts(["serve", "--no-such-option"]) == ["--no-such-option"]
    assert unknown_parts(["user", "frobnicate"]) == ["frobnicate"]
    assert shown_commands("run `knownfix backup --out x.zip # nightly` and\n"
                          "```\nknownfix user add li \\\n  --role admin && ls\n```\n"
                          "`createdb -O knownfix knownfix`, `docker compose exec app1 "
                          "knownfix --progress stats`") == [
        ["user", "add", "li", "--role", "admin"], ["backup", "--out", "x.zip"],
        ["--progress", "stats"]]
    assert unknown_parts(["--progress", "stats"]) == []


def test_the_readme_points_to_the_deploy_guide():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# -- Makefile -------------------------------------------------------------------------------

def test_make_test_installs_the_postgresql_server_and_bench_pg_exists():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test: .*\$\(VENV\)/\.pgserver", makefile, re.M)
    assert re.search(r"^\$\(VENV\)/\.pgserver:", makefile, re.M)
    assert re.search(r"^\.PHONY: .*\bbench-pg\b", makefile, re.M)
    assert re.search(r"^bench-pg: .*\n\t\$\(PY\) bench/bench_pg\.py", makefile, re.M)
