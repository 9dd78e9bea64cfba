"""scripts/security-checks' pip-audit step (scripts/pip_audit_check.py): it names exactly what
could not be audited, and why, instead of calling every failure "unreachable".

pip-audit's JSON reports and error outputs below are the shapes it really produces (2.10):
the 404 report was recorded on this project's development machine, the ProxyError
traceback with HTTPS_PROXY pointing at a closed port."""

import http.server
import importlib.util
import json
import socket
import sys
import textwrap
import threading

import pytest

from tests.workers import ROOT

spec = importlib.util.spec_from_file_location(
    "pip_audit_check", ROOT / "scripts/pip_audit_check.py"
)
check = sys.modules["pip_audit_check"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def not_found(name, version):
    reason = f"Dependency not found on PyPI and could not be audited: {name} ({version})"
    return {"name": name, "skip_reason": reason}


def audited(name, version, *vulns):
    return {"name": name, "version": version, "vulns": list(vulns)}


def report(*deps):
    return json.dumps({"dependencies": list(deps), "fixes": []})


NOTHING_FOUND = report(not_found("django", "5.2.19"), not_found("celery", "5.7.0"))

UNREACHABLE_OUTPUT = """\
Traceback (most recent call last):
  File ".../pip_audit/_service/pypi.py", line 64, in query
    response: requests.Response = self.session.get(url=url, timeout=self.timeout)
  File ".../requests/adapters.py", line 723, in send
    raise ProxyError(e, request=request)
requests.exceptions.ProxyError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries \
exceeded with url: /pypi/django/5.2.19/json (Caused by ProxyError('Unable to connect to proxy'))
"""

SERVICE_ERROR_OUTPUT = """\
Traceback (most recent call last):
  File ".../pip_audit/_service/pypi.py", line 65, in query
    response.raise_for_status()
requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: \
https://pypi.org/pypi/django/5.2.19/json

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File ".../pip_audit/_service/pypi.py", line 86, in query
    raise ServiceError from http_error
pip_audit._service.interface.ServiceError
"""

RESOLUTION_FAILED_OUTPUT = (
    "ERROR:pip_audit._cli:Failed to install packages: ['/tmp/x/bin/python', '-m', 'pip', "
    "'install', '--requirement', 'requirements.txt']\n"
)


@pytest.mark.parametrize(("strict", "exit_code"), [(False, 0), (True, 1)])
def test_every_package_not_found_is_named_and_is_not_a_pass(strict, exit_code):
    outcome = check.summarize(NOTHING_FOUND, 0, "No known vulnerabilities found", strict=strict)
    text = "\n".join(outcome.lines)
    assert outcome.exit_code == exit_code and outcome.unchecked
    assert "0 of 2 packages audited" in text
    assert "2 of 2 package versions" in text and "404 Not Found" in text
    assert "django==5.2.19, celery==5.7.0" in text
    assert "NOTHING was audited" in text
    assert "unreachable" not in text


def test_a_partial_audit_names_only_the_missing_package():
    data = report(audited("django", "5.2.19"), audited("celery", "5.7.0"), not_found("acme", "1.0"))
    outcome = check.summarize(data, 0, "", strict=False)
    text = "\n".join(outcome.lines)
    assert "2 of 3 packages audited, none vulnerable" in text
    assert "1 of 3 package versions" in text and "acme==1.0" in text
    assert "django==" not in text and "NOTHING" not in text
    assert check.summarize(data, 0, "", strict=True).exit_code == 1


@pytest.mark.parametrize("strict", [False, True])
def test_findings_always_fail(strict):
    vuln = {"id": "GHSA-aaaa-bbbb-cccc", "fix_versions": ["4.2.1", "5.0.1"]}
    data = report(audited("django", "4.2.0", vuln), not_found("acme", "1.0"))
    outcome = check.summarize(data, 1, "Found 1 known vulnerability in 1 package", strict=strict)
    assert outcome.exit_code == 1
    assert "VULNERABLE django 4.2.0: GHSA-aaaa-bbbb-cccc (fixed in 4.2.1, 5.0.1)" in outcome.lines
    assert "pip-audit: 1 of 2 packages audited, 1 with known vulnerabilities" in outcome.lines


@pytest.mark.parametrize("strict", [False, True])
def test_a_full_audit_passes(strict):
    outcome = check.summarize(report(audited("django", "5.2.19")), 0, "", strict=strict)
    assert outcome.exit_code == 0 and not outcome.unchecked
    assert outcome.lines == ["pip-audit: 1 of 1 packages audited, none vulnerable"]


@pytest.mark.parametrize(
    ("output", "says", "detail"),
    [
        (UNREACHABLE_OUTPUT, "unreachable (network)", "requests.exceptions.ProxyError: "),
        (SERVICE_ERROR_OUTPUT, "answered with an error", "503 Server Error: Service Unavailable"),
    ],
)
def test_a_run_cut_short_by_the_network_or_the_service_says_which(output, says, detail):
    outcome = check.summarize(None, 1, output, strict=False)
    assert outcome.exit_code == 0 and outcome.unchecked
    assert says in outcome.lines[0] and "no report" in outcome.lines[0]
    assert detail in outcome.lines[1]
    assert check.summarize(None, 1, output, strict=True).exit_code == 1


def test_pip_audit_failing_for_another_reason_fails_the_check():
    outcome = check.summarize(None, 1, RESOLUTION_FAILED_OUTPUT, strict=False)
    assert outcome.exit_code == 1 and not outcome.unchecked
    assert "pip-audit failed" in outcome.lines[0]
    assert "Failed to install packages" in outcome.lines[1]


# --- The probe, against a local stand-in for the service ---------------------------------


class FakeService(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):
        status, body = self.routes.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def service(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(check, "SERVICE", f"http://127.0.0.1:{server.server_port}/pypi")
    FakeService.routes = {}
    yield FakeService.routes
    server.shutdown()
    server.server_close()


def test_probe_tells_a_known_release_from_a_missing_api(service):
    service["/pypi/django/5.2.19/json"] = (200, b"{}")
    assert check.probe("django", "5.2.19").kind == "ok"

    del service["/pypi/django/5.2.19/json"]
    service["/pypi/django/json"] = (200, json.dumps({"releases": {"5.2.19": []}}).encode())
    result = check.probe("django", "5.2.19")
    assert result.kind == "not_found"
    assert "HTTP 404" in result.detail and "lists 5.2.19" in result.detail
    assert "per-release JSON API" in result.detail

    result = check.probe("django", "9.9.9")  # not released at all: only the 404 is reported
    assert result.kind == "not_found" and "lists" not in result.detail


def test_probe_reports_a_service_error_with_its_status(service):
    service["/pypi/django/5.2.19/json"] = (503, b"")
    result = check.probe("django", "5.2.19")
    assert result.kind == "service_error" and "HTTP 503" in result.detail


def test_probe_reports_a_closed_port_as_unreachable(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(check, "SERVICE", f"http://127.0.0.1:{port}/pypi")
    result = check.probe("django", "5.2.19")
    assert result.kind == "unreachable" and "Connection refused" in result.detail


# --- The whole step: probe, pip-audit (a stand-in executable), report --------------------

FAKE_PIP_AUDIT = """\
import sys
args = sys.argv[1:]
open(args[args.index("-o") + 1], "w").write({report!r})
print("No known vulnerabilities found")
"""


@pytest.fixture
def fake_pip_audit(tmp_path, monkeypatch):
    def install(report_text: str):
        script = tmp_path / "pip-audit"
        script.write_text(f"#!{sys.executable}\n" + FAKE_PIP_AUDIT.format(report=report_text))
        script.chmod(0o755)
        monkeypatch.setenv("PIP_AUDIT", str(script))

    return install


def test_step_skips_pip_audit_when_the_service_is_unreachable(tmp_path, monkeypatch, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\nDjango==5.2.19\ncelery[redis]==5.7.0\n")
    monkeypatch.setattr(check, "SERVICE", "http://127.0.0.1:9/pypi")
    monkeypatch.setenv("PIP_AUDIT", "/nonexistent/pip-audit")  # never run
    monkeypatch.delenv("SECURITY_CHECKS_STRICT", raising=False)
    assert check.main(str(requirements)) == 0
    out = capsys.readouterr().out
    assert "NOT RUN, the vulnerability service is unreachable (network)" in out
    assert "SECURITY_CHECKS_STRICT=1 makes it fail" in out
    monkeypatch.setenv("SECURITY_CHECKS_STRICT", "1")
    assert check.main(str(requirements)) == 1


def test_step_runs_pip_audit_after_a_404_and_names_every_package(
    service, fake_pip_audit, tmp_path, monkeypatch, capsys
):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==5.2.19\n")
    fake_pip_audit(NOTHING_FOUND)
    monkeypatch.setenv("SECURITY_CHECKS_STRICT", "1")
    assert check.main(str(requirements)) == 1
    out = capsys.readouterr().out
    assert "probe of the vulnerability service: HTTP 404" in out
    assert "django==5.2.19, celery==5.7.0" in out
    assert "No known vulnerabilities found" not in out  # pip-audit's own, misleading, line


def test_first_pin_reads_extras_and_skips_comments(tmp_path):
    requirements = tmp_path / "r.txt"
    requirements.write_text(
        textwrap.dedent("""\
        # Runtime dependencies
        -r base.txt
        celery[redis]==5.7.0  # broker
        Django==5.2.19
    """)
    )
    assert check.first_pin(str(requirements)) == ("celery", "5.7.0")
