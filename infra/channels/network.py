"""Outbound network policy: the SSRF guard every channel connects through.

A tenant chooses where its webhooks, SMS provider and SMTP server live, so a URL is untrusted
input: without a guard it could reach the metadata service, Redis or PostgreSQL on our own
network. The guard vets addresses *at connect time*, after resolution, and then connects to the
vetted address itself, so a name cannot resolve to a public address for the check and to a
private one for the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import anyio
import httpx

from automation.ports import DeliveryError
from infra.channels.addresses import IPAddress, IPNetwork, embedded_ipv4, non_public

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
"""Cloud instance metadata (AWS, GCP, Azure, OpenStack): refused even inside an allowed network,
because it hands out credentials and no legitimate delivery target lives there."""


ALLOW_SETTING = "BSDFLOW_OUTBOUND_ALLOW"
"""The setting (Settings.outbound_allow) that lets channels reach listed non-public networks."""


class AddressRefused(DeliveryError):
    """The destination is not a public address: retrying will not change that."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    """Non-public networks that deliveries may still reach (an internal relay, tests on loopback)."""
    connect_timeout: float = 5.0
    read_timeout: float = 10.0

    @classmethod
    def from_setting(
        cls, allow: str, *, connect_timeout: float = 5.0, read_timeout: float = 10.0
    ) -> OutboundPolicy:
        """From a comma-separated setting such as "127.0.0.0/8,::1/128" (empty: public only)."""
        networks = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in allow.split(",")
            if part.strip()
        )
        return cls(networks, connect_timeout, read_timeout)

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        judged = self.judge(address)
        return judged[0] if judged else None

    def judge(self, address: IPAddress) -> tuple[str, IPAddress] | None:
        """(why, culprit) when `address` may not be reached: the culprit is `address` itself, or
        the IPv4 address it embeds (IPv4-mapped or -compatible, 6to4, Teredo, NAT64), which is
        where packets to it end up, or which a relay on the way would reach for us."""
        embedded = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
        for candidate in (address, *embedded):
            if candidate in METADATA_ADDRESSES:
                return "cloud metadata", candidate
        if self._allowed(address):
            return None
        for candidate in embedded:
            kind = None if self._allowed(candidate) else non_public(candidate)
            if kind is not None:
                return kind, candidate
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return None  # it is the IPv4 host it names, judged above
        kind = non_public(address)
        return (kind, address) if kind else None

    def destination_refusal(self, host: str) -> str | None:
        """Why a configured host is refused before any lookup, or None: for IP literals and the
        names that are loopback by definition (RFC 6761). Other names are judged when connecting,
        after resolution, as they may resolve elsewhere by then."""
        bare = host.strip("[]").rstrip(".").lower()
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(bare.split("%", 1)[0])]
        except ValueError:
            if bare != "localhost" and not bare.endswith(".localhost"):
                return None
            addresses = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
        for address in addresses:
            judged = self.judge(address)
            if judged is not None:
                kind, culprit = judged
                named = str(address) if bare == str(address) else f"{host} ({address})"
                embeds = f", which embeds {culprit}," if culprit != address else ""
                return (
                    f"{named}{embeds} is a {kind} address; channels reach only public addresses "
                    f"unless {ALLOW_SETTING} lists its network"
                )
        return None

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.allowed_networks)


async def resolve_vetted(host: str, port: int, policy: OutboundPolicy) -> list[IPAddress]:
    """Every address `host` resolves to, refusing them all if any one is not allowed.

    Refusing on any (not only on all) keeps a name with one public and one private record from
    reaching the private one through connection fallback. Resolution failures raise OSError.
    """
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        judged = policy.judge(address)
        if judged is not None:
            raise AddressRefused(_refused_message(host.strip("[]"), address, *judged))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"{host} has no address")
    return addresses


def _refused_message(shown: str, address: IPAddress, kind: str, culprit: IPAddress) -> str:
    what = f"{culprit}, a {kind} address" if culprit != address else None
    if shown != str(address):
        return f"refused: {shown} resolves to {address}, " + (
            f"which embeds {what}" if what else f"a {kind} address"
        )
    return (
        f"refused: {address} embeds {what}" if what else f"refused: {address} is a {kind} address"
    )


async def open_vetted_socket(host: str, port: int, policy: OutboundPolicy) -> socket.socket:
    """A connected non-blocking socket to a vetted address of `host` (for asyncio clients)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(policy.connect_timeout):
        addresses = await resolve_vetted(host, port, policy)
        failure: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (str(address), port))
            except OSError as exc:
                sock.close()
                failure = exc
            except BaseException:
                sock.close()
                raise
            else:
                return sock
    raise failure or OSError(f"could not connect to {host}:{port}")
