"""Outbound network policy: the SSRF guard every channel connects through.

A tenant chooses where its webhooks, SMS provider and SMTP server live, so a URL is untrusted
input: without a guard it could reach the metadata service, Redis or PostgreSQL on our own
network. The guard vets addresses *at connect time*, after resolution, and then connects to the
vetted address itself, so a name cannot resolve to a public address for the check and to a
private one for the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import anyio
import httpcore
import httpx

from automation.ports import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
            kind = None if self._allowed(candidate) else _non_public(candidate)
            if kind is not None:
                return kind, candidate
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return None  # it is the IPv4 host it names, judged above
        kind = _non_public(address)
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


NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries by a standard translation scheme."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client), the client de-obfuscated
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _non_public(address: IPAddress) -> str | None:
    for kind, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    ):
        if flagged:
            return kind
    return None


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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard in front: resolve, vet, connect to the IP.

    TLS still verifies the certificate against the original host name: httpcore passes the
    origin's host to `start_tls`, not the address connected to.
    """

    def __init__(
        self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        try:
            with anyio.fail_after(timeout):
                try:
                    addresses = await resolve_vetted(host, port, self.policy)
                except OSError as exc:
                    raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
                for address in addresses:
                    try:
                        return await self.inner.connect_tcp(
                            str(address), port, None, local_address, socket_options
                        )
                    except httpcore.ConnectError as exc:
                        failure = exc
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        raise failure or httpcore.ConnectError(f"could not connect to {host}:{port}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused: unix sockets are not delivery targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


# Most specific first, so the first match is the one httpx itself would raise.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes] | Iterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._stream, AsyncIterable)
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~20 ms of CPU, far more than a send itself."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose every connection goes through the guard.

    No proxy support on purpose: a proxy would resolve the host itself, out of the guard's reach.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or default_ssl_context(),
            max_connections=max_connections,
            network_backend=GuardedBackend(policy),
            retries=0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
