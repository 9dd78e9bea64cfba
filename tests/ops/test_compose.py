"""docker-compose.yml, checked without a Docker engine: valid by the compose-spec JSON schema
(vendored: tests/ops/README.md), production settings with required secrets, migrations run
once before anything else starts, and health checks that check something real."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.workers import ROOT

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.schema.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves << merge keys
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat"]
REQUIRED_SECRETS = ["DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"]


def test_compose_file_is_valid_by_the_compose_spec_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(COMPOSE), key=str)
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_the_schema_check_catches_mistakes():
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["beat"]["healthcheck"]["interval"] = ["30s"]
    assert len(list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))) == 2


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_run_production_settings_and_refuse_to_start_without_secrets(service):
    env = SERVICES[service]["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "chatbot.settings.production"
    for name in REQUIRED_SECRETS:
        # Compose's required-variable form: `up` stops with the message when it is unset or
        # empty, before any container starts.
        assert re.fullmatch(rf"\$\{{{name}:\?set {name} in \.env.*\}}", env[name]), env[name]
    assert "DJANGO_DEBUG" not in env


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME:?message}` and `${NAME:-default}` (the forms this file uses)."""

    def one(match: re.Match) -> str:
        name, op, arg = match[1], match[2], match[3]
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        return arg

    return re.sub(r"\$\{(\w+)(:\?|:-)([^}]*)\}", one, value)


def test_interpolation_without_secrets_fails_with_the_documented_message():
    with pytest.raises(ValueError, match=r"set DJANGO_SECRET_KEY in \.env \(see \.env\.example\)"):
        interpolate(SERVICES["web"]["environment"]["DJANGO_SECRET_KEY"], {})


def test_production_settings_start_on_the_compose_environment():
    """The web service's environment, with the two secrets filled in as .env.example says,
    is enough for production settings: `check --deploy` passes (no database needed)."""
    secrets = {
        "DJANGO_SECRET_KEY": "s" * 20 + "Vq3-kP9_xZ2mT7wR4yL8nB1cD6fH0jG5aE",
        "FIELD_ENCRYPTION_KEY": "Yk3ZQ0y3mF2vR5q8N1sX7cB4dH6jL9pT2wE5rU8iO0A=",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.pop("FIELD_ENCRYPTION_KEY", None)
    env.update({k: interpolate(str(v), secrets) for k, v in SERVICES["web"]["environment"].items()})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_run_once_before_web_worker_and_beat():
    migrate = SERVICES["migrate"]
    # It also empties the shared metrics directory first (docs/operations.md).
    assert migrate["command"].endswith("exec python manage.py migrate --noinput'")
    assert migrate["restart"] == "no"  # a one-shot, not restarted after it exits 0
    for service in ["web", "worker", "beat"]:
        depends_on = SERVICES[service]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["postgres"] == {"condition": "service_healthy"}
        assert "migrate" not in str(SERVICES[service]["command"])


def test_worker_healthcheck_pings_its_own_node():
    test = SERVICES["worker"]["healthcheck"]["test"]
    # $$ is compose's escape: the container's shell expands $HOSTNAME (celery's default node
    # name is celery@<hostname>).
    assert test[0] == "CMD-SHELL"
    assert "celery -A chatbot inspect ping -d celery@$$HOSTNAME" in test[1]


def run_healthcheck(service: str, replace: dict[str, str]) -> int:
    kind, *argv = SERVICES[service]["healthcheck"]["test"]
    assert kind == "CMD" and argv[:2] == ["python", "-c"]
    code = argv[2]
    for old, new in replace.items():
        code = code.replace(old, new)
    return subprocess.run([sys.executable, "-c", code], timeout=30).returncode


def test_beat_healthcheck_fails_when_the_schedule_file_goes_stale(tmp_path):
    command = SERVICES["beat"]["command"]
    schedule = re.search(r"-s (\S+)", command)[1]
    assert "celery -A chatbot beat" in command
    assert f'glob.glob("{schedule}*")' in SERVICES["beat"]["healthcheck"]["test"][3]
    replace = {schedule: str(tmp_path / "celerybeat-schedule")}
    assert run_healthcheck("beat", replace) == 1  # no schedule file yet

    dat = tmp_path / "celerybeat-schedule.dat"  # dbm.dumb's name; gdbm has no suffix
    dat.write_bytes(b"x")
    assert run_healthcheck("beat", replace) == 0
    stale = time.time() - 301
    os.utime(dat, (stale, stale))
    assert run_healthcheck("beat", replace) == 1


def test_web_healthcheck_sends_an_allowed_host(tmp_path):
    code = SERVICES["web"]["healthcheck"]["test"][3]
    compile(code, "healthcheck", "exec")
    assert "/healthz" in code and 'DJANGO_ALLOWED_HOSTS"].split(",")[0]' in code


def test_uvicorn_runs_with_lifespan_off_wherever_it_is_started():
    assert "--lifespan off" in SERVICES["web"]["command"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"--lifespan", "off"]' in dockerfile
    readme = (ROOT / "README.md").read_text()
    uvicorn_lines = [line for line in readme.splitlines() if line.startswith("uvicorn ")]
    assert uvicorn_lines and all("--lifespan off" in line for line in uvicorn_lines)


def test_env_example_documents_the_required_secrets():
    example = (ROOT / ".env.example").read_text()
    for name in REQUIRED_SECRETS:
        assert f"# {name}=" in example  # commented: empty values would break development
    assert ".demo" in (ROOT / ".dockerignore").read_text().split()


def test_web_and_worker_share_a_metrics_directory_that_migrate_empties():
    for service in ["web", "worker"]:
        assert SERVICES[service]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/run/prometheus"
        assert "metrics:/run/prometheus" in SERVICES[service]["volumes"]
    assert "metrics:/run/prometheus" in SERVICES["migrate"]["volumes"]
    assert SERVICES["migrate"]["command"].startswith("sh -c 'rm -f /run/prometheus/*.db &&")
