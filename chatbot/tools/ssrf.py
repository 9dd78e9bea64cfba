"""The SSRF guard for HTTP tools: where a tool may connect.

A host name is resolved once; every address it resolves to must be public (not private,
loopback, link-local, cloud metadata, multicast, reserved, shared or unspecified) unless it
lies in TOOLS_SSRF_ALLOWED_NETWORKS. The caller then connects to that very address (no
second lookup a DNS-rebinding server could answer differently), and runs the check again on
every redirect.
"""

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

# Replaceable in a test of this module alone; the guard calls it exactly once per hop.
getaddrinfo = socket.getaddrinfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class AddressRefused(Exception):
    """The tool's host is not a place a tool may go."""

    def __init__(self, message: str, code: str = "address_refused"):
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=8)
def _allowed_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _allow_listed(address: IPAddress) -> bool:
    networks = _allowed_networks(tuple(settings.TOOLS_SSRF_ALLOWED_NETWORKS))
    return any(address.version == n.version and address in n for n in networks)


def address_forbidden(address: IPAddress) -> str:
    """Why a tool may not connect to `address` ("" when it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if _allow_listed(address):
        return ""
    if address in _METADATA:
        return "metadata"
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared"
    if not address.is_global:
        return "not_global"
    return ""


def resolve_pinned(host: str, port: int, *, scheme: str = "https") -> str:
    """One DNS lookup; the address to connect to, or AddressRefused if any is forbidden.

    Plain http goes only to allow-listed networks (a sidecar or a test stub)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise AddressRefused(f"{host} does not resolve.", code="dns_failed") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise AddressRefused(f"{host} does not resolve.", code="dns_failed")
    for address in addresses:  # all of them: the client must not pick a forbidden one
        if reason := address_forbidden(address):
            raise AddressRefused(f"{host} resolves to a {reason.replace('_', '-')} address.")
        if scheme != "https" and not _allow_listed(address):
            raise AddressRefused("Plain http only to allow-listed networks.", code="url_refused")
    return str(addresses[0])


def url_check(url: str) -> str:
    """What is wrong with a tool URL before any lookup ("" when nothing): HTTPS, or plain
    HTTP when the allow-list has networks (checked again on the resolved address)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Use an https:// URL."
    if parts.username or parts.password:
        return "Put credentials in the auth header, not in the URL."
    if parts.scheme == "http" and not settings.TOOLS_SSRF_ALLOWED_NETWORKS:
        return "Use an https:// URL (plain http only to allow-listed networks)."
    return ""
