"""pip-audit, run and read properly: what was audited, and what could not be, and why.

Run by scripts/security-checks: `python scripts/pip_audit_check.py requirements.txt`.

pip-audit's exit code says little: 0 both when every package was checked and when none
could be (each skipped as "not found"), 1 both for findings and for a crash. So this runs it
with a JSON report, reads the report, and reads the error output of a run that left none:

  not found      the vulnerability service (PyPI's per-release JSON API) answered 404 for a
                 package/version: named, each one
  unreachable    no connection to the service: DNS, refused, timeout, proxy
  service error  the service answered, with an error (5xx, 429, a redirect loop)
  failed         pip-audit could not resolve the requirements, or failed some other way

Exit 1 on any finding and on "failed". What could not be checked is printed loudly and exits
0, or 1 with SECURITY_CHECKS_STRICT=1 (set it where the service is reachable).
PIP_AUDIT_IGNORE="GHSA-... PYSEC-..." passes accepted exceptions (docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "https://pypi.org/pypi"  # pip-audit's default service: f"{SERVICE}/{name}/{version}/json"
NOT_FOUND = re.compile(r"Dependency not found on PyPI and could not be audited: (\S+) \((.+)\)$")
# How a pip-audit run that left no report ended: its last exception, or its fatal message.
UNREACHABLE = re.compile(
    r"^(requests\.exceptions\.(ConnectionError|ProxyError|ConnectTimeout|ReadTimeout|SSLError)"
    r"|ERROR:pip_audit\S*:Could not connect to PyPI's vulnerability feed)",
    re.MULTILINE,
)
SERVICE_ERROR = re.compile(
    r"^(pip_audit\._service\.interface\.ServiceError|requests\.exceptions\.HTTPError"
    r"|ERROR:pip_audit\S*:PyPI is not redirecting properly)",
    re.MULTILINE,
)


@dataclass
class Probe:
    """One request to the service, for the first requirement: is it there at all?"""

    kind: str  # "ok" | "not_found" | "service_error" | "unreachable"
    detail: str


@dataclass
class Outcome:
    exit_code: int
    lines: list[str] = field(default_factory=list)
    unchecked: bool = False  # something could not be audited (not a finding)


def probe(name: str, version: str, *, timeout: float = 10) -> Probe:
    base = SERVICE
    url = f"{base}/{name}/{version}/json"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            return Probe("ok", f"HTTP {response.status} from {url}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return Probe(
                "not_found", f"HTTP 404 from {url}{_listed_elsewhere(base, name, version)}"
            )
        return Probe("service_error", f"HTTP {exc.code} {exc.reason} from {url}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        proxy = urllib.request.getproxies().get(url.split(":", 1)[0], "")
        via = f" through the proxy {re.sub(r'//[^@/]*@', '//', proxy)}" if proxy else ""
        return Probe("unreachable", f"{type(reason).__name__}: {reason} ({url}{via})")


def _listed_elsewhere(base: str, name: str, version: str) -> str:
    """A 404 for a release the project page lists means this network's pypi.org serves the
    index but not the per-release API (a mirror or proxy), not that the release is unknown."""
    url = f"{base}/{name}/json"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http(s) only
            releases = json.load(response).get("releases", {})
    except (OSError, ValueError):
        return ""
    if version in releases:
        return (
            f", although {url} lists {version}: this network serves the package index but not"
            " the per-release JSON API that pip-audit reads (a mirror or proxy)"
        )
    return ""


def run_pip_audit(requirements: str, ignore: list[str]) -> tuple[str | None, int, str]:
    """Returns (the JSON report or None when pip-audit left none, its exit code, its output)."""
    executable = os.environ.get("PIP_AUDIT") or str(Path(sys.executable).with_name("pip-audit"))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [executable, "-r", requirements, "--progress-spinner", "off", "-f", "json"]
        args += ["-o", str(report)]
        for vuln_id in ignore:
            args += ["--ignore-vuln", vuln_id]
        result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
        text = report.read_text() if report.exists() else None
    return text, result.returncode, result.stdout + result.stderr


def summarize(report: str | None, returncode: int, output: str, *, strict: bool) -> Outcome:
    not_checked = 1 if strict else 0
    try:
        deps = json.loads(report or "")["dependencies"]
    except (ValueError, KeyError, TypeError):
        return _crashed(returncode, output, not_checked)

    out = Outcome(0)
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason")]
    not_found = [m for d in skipped if (m := NOT_FOUND.search(d["skip_reason"]))]
    other_skips = [d for d in skipped if not NOT_FOUND.search(d["skip_reason"])]
    audited = len(deps) - len(skipped)

    for d in vulnerable:
        for v in d["vulns"]:
            fixes = ", ".join(v.get("fix_versions") or []) or "no fix yet"
            out.lines.append(f"VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in {fixes})")
    verdict = f"{len(vulnerable)} with known vulnerabilities" if vulnerable else "none vulnerable"
    out.lines.append(
        f"pip-audit: {audited} of {len(deps)} packages audited"
        + (f", {verdict}" if audited else "")
    )
    if not_found:
        out.lines.append(
            f"pip-audit: NOT AUDITED: {len(not_found)} of {len(deps)} package versions, which the "
            "vulnerability service (PyPI's JSON API) answered 404 Not Found for:"
        )
        listed = ", ".join(f"{m[1]}=={m[2]}" for m in not_found)
        out.lines += textwrap.wrap(
            listed, 96, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
        )
    for d in other_skips:
        out.lines.append(f"pip-audit: NOT AUDITED {d['name']}: {d['skip_reason']}")
    out.unchecked = bool(skipped)
    if audited == 0 and deps:
        out.lines.append("pip-audit: NOTHING was audited. This is not a pass.")
    out.exit_code = 1 if vulnerable else not_checked if skipped else 0
    return out


def _crashed(returncode: int, output: str, not_checked: int) -> Outcome:
    last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
    if UNREACHABLE.search(output):
        kind, unchecked = "the vulnerability service is unreachable (network)", True
    elif SERVICE_ERROR.search(output):
        kind, unchecked = "the vulnerability service answered with an error", True
    else:
        kind, unchecked = "pip-audit failed (see its error; e.g. unresolvable requirements)", False
    detail = _error_line(output) or last[0]
    lines = [
        f"pip-audit: NOT AUDITED, {kind} (pip-audit exit {returncode}, no report):",
        f"    {detail.strip()}",
    ]
    return Outcome(not_checked if unchecked else 1, lines, unchecked=unchecked)


def _error_line(output: str) -> str:
    """The most telling line: the exception pip-audit died of, else its first fatal message."""
    lines = output.splitlines()
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Timeout): ", line)]
    fatal = [line for line in lines if line.startswith("ERROR:")]
    return (raised[-1:] or fatal[:1] or [""])[0]


def first_pin(requirements: str) -> tuple[str, str] | None:
    for line in Path(requirements).read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip()):
            return match[1].lower(), match[2]
    return None


def main(requirements: str) -> int:
    strict = os.environ.get("SECURITY_CHECKS_STRICT") == "1"
    outcome = audit(requirements, strict=strict)
    print("\n".join(outcome.lines))
    if outcome.unchecked and not strict:
        print(
            "pip-audit: what could not be checked does not fail this run; "
            "SECURITY_CHECKS_STRICT=1 makes it fail (use it where the service is reachable)."
        )
    return outcome.exit_code


def audit(requirements: str, *, strict: bool) -> Outcome:
    pin = first_pin(requirements)
    if pin:
        # A service that cannot be reached at all fails the same way after pip-audit has spent
        # half a minute resolving: say so at once. A 404 still runs it, to name every package.
        checked = probe(*pin)
        head = f"pip-audit: probe of the vulnerability service: {checked.detail}"
        if checked.kind in ("unreachable", "service_error"):
            what = "unreachable (network)" if checked.kind == "unreachable" else "in error"
            lines = [
                head,
                f"pip-audit: NOT RUN, the vulnerability service is {what}; no package was audited.",
            ]
            return Outcome(1 if strict else 0, lines, unchecked=True)
        print(head, flush=True)
    print(
        "pip-audit: resolving the requirements in a scratch virtualenv, then one lookup per "
        "package (about half a minute)...",
        flush=True,
    )
    ignore = os.environ.get("PIP_AUDIT_IGNORE", "").split()
    report, returncode, output = run_pip_audit(requirements, ignore)
    return summarize(report, returncode, output, strict=strict)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt"))
