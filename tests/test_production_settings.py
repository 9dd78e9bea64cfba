"""Production settings: `check --deploy` is clean, bad configuration fails fast, and the
security headers (HSTS, CSP with nonces, nosniff, referrer, framing) are really sent.

Each case runs in a subprocess: production settings are a different settings module."""

import json
import os
import secrets
import subprocess
import sys
import textwrap

import pytest

from tests.workers import ROOT, database_url

GOOD_ENV = {
    "DJANGO_SETTINGS_MODULE": "chatbot.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "FIELD_ENCRYPTION_KEY": "k" * 20 + secrets.token_urlsafe(16),
    "DJANGO_ALLOWED_HOSTS": "chat.example.com,testserver",
}


def _run(args: list[str], **env_overrides) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_", "CSP_")) and k != "FIELD_ENCRYPTION_KEY"
    }
    env.update(GOOD_ENV)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_no_issues():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output and "ERRORS" not in output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "dev-only-insecure-secret-key-change-me"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short-but-random-Zx81"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
        ({"FIELD_ENCRYPTION_KEY": None}, "FIELD_ENCRYPTION_KEY"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
    ],
)
def test_bad_configuration_fails_fast(overrides, message):
    result = _run(["manage.py", "check"], **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


HEADERS_SCRIPT = textwrap.dedent("""
    import json, re
    import django
    django.setup()
    from django.test import Client

    out = {}
    client = Client()
    plain = client.get("/admin/login/")
    out["http_redirect"] = [plain.status_code, plain.get("Location", "")]
    health = client.get("/healthz")
    out["healthz"] = health.status_code
    for path in ["/", "/admin/login/", "/api/v1/docs/"]:
        r = client.get(path, secure=True)
        html = r.content.decode()
        out[path] = {
            "status": r.status_code,
            "csp": r.get("Content-Security-Policy", ""),
            "style_nonces": re.findall(r'<style nonce="([^"]*)"', html),
            "bare_inline_style": "<style>" in html,
            "inline_script": bool(re.search(r"<script(?![^>]*\\bsrc=)(?![^>]*json)[^>]*>", html)),
            "xfo": r.get("X-Frame-Options"),
            "hsts": r.get("Strict-Transport-Security"),
            "nosniff": r.get("X-Content-Type-Options"),
            "referrer": r.get("Referrer-Policy"),
        }
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.django_db(transaction=True)
def test_security_headers_and_csp_on_real_pages():
    from accounts.services import widget_key_create

    widget_key_create(name="Demo")  # the demo page then embeds the widget script
    result = _run(["-c", HEADERS_SCRIPT], DATABASE_URL=database_url())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.split("RESULT", 1)[1])

    # Plain HTTP is redirected to HTTPS; health checks are not.
    assert out["http_redirect"][0] == 301
    assert out["http_redirect"][1].startswith("https://")
    assert out["healthz"] == 200
    for path in ["/", "/admin/login/"]:
        page = out[path]
        assert page["status"] == 200, path
        csp = dict(part.strip().split(" ", 1) for part in page["csp"].split(";"))
        assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'"
        assert csp["frame-ancestors"] == "'none'" and "unsafe-inline" not in page["csp"]
        assert page["xfo"] == "DENY" and page["nosniff"] == "nosniff"
        assert page["hsts"] == "max-age=31536000; includeSubDomains; preload"
        assert page["referrer"] == "strict-origin-when-cross-origin"
        assert not page["inline_script"] and not page["bare_inline_style"], path
        # Every inline <style> carries this response's nonce, and the policy names it.
        for nonce in page["style_nonces"]:
            assert nonce and f"'nonce-{nonce}'" in csp["style-src"]
    assert out["/"]["style_nonces"], "the demo page's inline style must be nonced"
    # Swagger UI is self-hosted: no page, not even the API docs, may load from elsewhere.
    docs = out["/api/v1/docs/"]
    assert docs["status"] == 200
    for path in ["/", "/admin/login/", "/api/v1/docs/"]:
        assert "http" not in out[path]["csp"], out[path]["csp"]
