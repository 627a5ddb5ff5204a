"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses, unless
private and loopback ones are allowed (LOANSVC_WEBHOOKS_ALLOW_PRIVATE, for tests and closed
networks). Checked when a partner registers the URL and again before every delivery (a name can
come to resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from loansvc.domain.errors import InvalidInput


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _public(address) -> bool:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_url(url: str, *, allow_private: bool, field: str = "url") -> None:
    """422 WEBHOOK_URL_INVALID (not an absolute http(s) URL, or credentials in it),
    WEBHOOK_URL_UNRESOLVABLE, or WEBHOOK_URL_PRIVATE."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("url is not a valid URL", code="WEBHOOK_URL_INVALID", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "url must be an absolute http or https URL", code="WEBHOOK_URL_INVALID", field=field
        )
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials", code="WEBHOOK_URL_INVALID", field=field)
    del port
    if allow_private:
        return
    addresses = _addresses(parts.hostname)
    if not addresses:
        raise InvalidInput(
            f"the host {parts.hostname} does not resolve", code="WEBHOOK_URL_UNRESOLVABLE", field=field
        )
    if not all(_public(a) for a in addresses):
        raise InvalidInput(
            "url points to a private, loopback or reserved address", code="WEBHOOK_URL_PRIVATE", field=field
        )
