"""Sends an HTTP tool's request through the SSRF guard (httpx).

Each hop (the first request and every redirect) resolves the host once, refuses forbidden
addresses (`ssrf.resolve_pinned`) and connects to the address it checked: the URL's host is
replaced by that IP while the `Host` header and the TLS server name (SNI, and so the
certificate check) keep the real name. Redirects are followed by hand, so each is checked.
"""

import threading
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from .ssrf import AddressRefused, resolve_pinned, url_check

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}


class ToolHttpError(Exception):
    def __init__(self, code: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    text: str
    truncated: bool


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One pooled client per process (connections are keyed by the pinned IP and port)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False,
                trust_env=False,  # never a proxy from the environment: the guard must see the host
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            )
        return _client


def http_tool_send(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    params: dict | None,
    body: dict | None,
    timeout: float,
) -> HttpResult:
    """One tool call over HTTP(S); raises AddressRefused or ToolHttpError."""
    deadline = time.monotonic() + timeout
    max_bytes = settings.TOOLS_RESULT_MAX_CHARS * 4
    for _hop in range(MAX_REDIRECTS + 1):
        if problem := url_check(url):
            raise AddressRefused(problem, code="url_refused")
        target = httpx.URL(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        address = resolve_pinned(target.host, port, scheme=target.scheme)
        pinned = target.copy_with(host=address)
        host_header = target.host if target.port is None else f"{target.host}:{target.port}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolHttpError("timeout", "The tool did not answer in time.")
        request = _http().build_request(
            method,
            pinned,
            headers={**headers, "Host": host_header},
            params=params,
            json=body,
            timeout=httpx.Timeout(remaining),
            extensions=extensions,
        )
        try:
            response = _http().send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise ToolHttpError("timeout", "The tool did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise ToolHttpError("connection_error", "Could not reach the tool.") from exc
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                url = str(target.join(response.headers["location"]))
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method != "GET"
                ):
                    method, body = "GET", None
                continue
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes or time.monotonic() > deadline:
                    break
        except httpx.TimeoutException as exc:
            raise ToolHttpError("timeout", "The tool did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise ToolHttpError("connection_error", "The tool's answer was cut off.") from exc
        finally:
            response.close()
        raw = b"".join(chunks)
        text = raw[:max_bytes].decode("utf-8", errors="replace")
        if response.status_code >= 400:
            raise ToolHttpError(
                "http_error",
                f"The tool answered HTTP {response.status_code}.",
                status=response.status_code,
            )
        return HttpResult(status=response.status_code, text=text, truncated=size > max_bytes)
    raise ToolHttpError("too_many_redirects", "The tool redirected too many times.")
