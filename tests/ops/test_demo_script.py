"""scripts/demo: what a first-time user sees. The whole script installs from the network and
serves until stopped, so these tests take its parts: the pip progress filter, run by bash on a
recorded pip log, and the commands it ends with."""

import subprocess

from tests.workers import ROOT

DEMO = ROOT / "scripts" / "demo"

PIP_OUTPUT = """\
Looking in indexes: https://example.invalid/simple
Collecting Django==5.2.19 (from -r requirements.txt (line 2))
  Downloading django-5.2.19-py3-none-any.whl.metadata (4.1 kB)
Processing /opt/wheels/redis-8.1.0-py3-none-any.whl (from -r requirements.txt (line 10))
Collecting asgiref>=3.8.1 (from Django==5.2.19->-r requirements.txt (line 2))
  Using cached asgiref-3.9.1-py3-none-any.whl (23 kB)
Processing /opt/wheels/psycopg_binary-3.3.9-cp311-cp311-manylinux_2_17_x86_64.whl
Installing collected packages: asgiref, redis, psycopg-binary, Django
Successfully installed Django-5.2.19 asgiref-3.9.1 psycopg-binary-3.3.9 redis-8.1.0
"""


def run_progress_filter(pip_output: str) -> subprocess.CompletedProcess:
    source = DEMO.read_text()
    function = source[source.index("pip_progress() {") :]
    function = function[: function.index("\n}\n") + 3]
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; tty=0\n{function}\npip_progress"],
        input=pip_output,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_install_progress_is_one_line_per_package_then_the_install_step():
    result = run_progress_filter(PIP_OUTPUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "    [1] Django==5.2.19",
        "    [2] redis==8.1.0",
        "    [3] asgiref>=3.8.1",
        "    [4] psycopg_binary==3.3.9",
        "    installing 4 packages (the longest part, up to a minute)...",
    ]


def test_pip_errors_are_shown_and_the_filter_never_fails_the_pipeline():
    result = run_progress_filter("Collecting nope==0\nERROR: No matching distribution found\n")
    assert result.returncode == 0
    assert "    ERROR: No matching distribution found" in result.stdout.splitlines()


def test_demo_keeps_its_login_in_an_ignored_file_and_serves_without_lifespan():
    source = DEMO.read_text()
    assert "demo_setup --credentials-file .demo/credentials" in source
    assert ".demo/" in (ROOT / ".gitignore").read_text().split()
    assert "uvicorn chatbot.asgi:application" in source and "--lifespan off" in source
    assert "PORT:-8000" in source  # a spare port: PORT=8611 scripts/demo
