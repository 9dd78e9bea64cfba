"""The client's IP address: the one function every throttle, log and audit line uses.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only as far
as the hops we trust. The chain is the header's addresses left to right, then the peer
(REMOTE_ADDR). Walking it from the right, a hop is skipped while it is trusted:

* one of the last `TRUSTED_PROXY_COUNT` hops (the peer counts as the first), or
* inside one of the `TRUSTED_PROXIES` networks (CIDR).

The first hop not skipped is the client. With neither setting (the default) that is the
peer itself and the header is ignored: a client cannot choose its own identity.

If uvicorn already resolved the header (`--proxy-headers` with `--forwarded-allow-ips`
naming the proxy), REMOTE_ADDR is the client: leave both settings empty then (see
docs/security.md).
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:1234"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip_from(meta: dict) -> str:
    """The client address for a request's META (Django's, or an ASGI view's own)."""
    peer = meta.get("REMOTE_ADDR") or ""
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    if not count and not networks:
        return peer
    hops = [h for h in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
    chain = [*hops, peer]
    for position, raw in enumerate(reversed(chain)):
        address = _parse(raw)
        if address is None:
            # Garbage where an address should be: stop believing the header here.
            return str(_parse(chain[len(chain) - position]) or peer) if position else peer
        trusted = position < count or any(address in network for network in networks)
        if not trusted:
            return str(address)
    # Every hop is trusted: the left-most is the best we know.
    first = _parse(chain[0])
    return str(first) if first else peer


def client_ip(request) -> str:
    """`client_ip_from(request.META)` for Django and DRF requests."""
    return client_ip_from(request.META)
