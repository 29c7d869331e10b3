"""Delivery channels against real servers on loopback: HTTP (http.server) and SMTP (aiosmtpd)."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import uuid
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from automation.ports import Channel, Channels, ConfigFault, DeliveryError, Outbound, Sent
from infra.channels import ENTRY_POINT_GROUP, ChannelRegistry, default_channels
from infra.channels.email import EmailChannel
from infra.channels.network import OutboundPolicy
from infra.channels.sms import SmsChannel
from infra.channels.webhook import WebhookChannel
from tests.servers import KEY, SECRET, Mailbox, Recorder

LOOPBACK = OutboundPolicy.from_setting("127.0.0.0/8,::1/128", connect_timeout=2, read_timeout=0.5)
PUBLIC_ONLY = OutboundPolicy.from_setting("", connect_timeout=2, read_timeout=0.5)


def outbound(
    config: Mapping[str, Any],
    credentials: Mapping[str, str] | None = None,
    *,
    body: str = '{"event": "due", "n": 1}',
    subject: str | None = "Reminder",
    recipients: list[str] | None = None,
    key: str | None = None,
) -> Outbound:
    return Outbound(
        run_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        attempt=1,
        idempotency_key=key or f"run-{uuid.uuid4().hex}",
        subject=subject,
        body=body,
        recipients=recipients or [],
        config=config,
        credentials=credentials if credentials is not None else {"secret": SECRET},
    )


async def refused(channel: Any, message: Outbound) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(message)
    return caught.value


# --- webhook -------------------------------------------------------------------------------


async def test_webhook_is_signed_the_standard_webhooks_way(http_server: Recorder) -> None:
    message = outbound({"url": f"{http_server.url}/ok", "headers": {"X-Tenant": "acme"}})
    before = int(time.time())
    sent = await WebhookChannel(LOOPBACK).send(message)

    assert sent == Sent("msg-1", detail="HTTP 200")
    [request] = http_server.seen
    assert request.body == message.body.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["webhook-id"] == message.idempotency_key
    timestamp = int(request.headers["webhook-timestamp"])
    assert before <= timestamp <= int(time.time())
    signed = f"{message.idempotency_key}.{timestamp}.".encode() + request.body
    expected = hmac.new(base64.b64decode(KEY), signed, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


async def test_webhook_wraps_plain_text_and_accepts_a_raw_secret(http_server: Recorder) -> None:
    message = outbound(
        {"url": f"{http_server.url}/json-id"}, {"secret": "plain-secret"}, body="Site A is due"
    )
    sent = await WebhookChannel(LOOPBACK).send(message)

    assert sent.provider_message_id == "evt_42"
    [request] = http_server.seen
    assert json.loads(request.body) == {"subject": "Reminder", "body": "Site A is due"}
    timestamp = request.headers["webhook-timestamp"]
    signed = f"{message.idempotency_key}.{timestamp}.".encode() + request.body
    digest = hmac.new(b"plain-secret", signed, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


async def test_webhook_does_not_follow_redirects(http_server: Recorder) -> None:
    error = await refused(
        WebhookChannel(LOOPBACK), outbound({"url": f"{http_server.url}/redirect"})
    )
    assert not error.retryable
    assert f"{http_server.url}/target" in error.message
    assert [seen.path for seen in http_server.seen] == ["/redirect"]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (408, True), (400, False)]
)
async def test_webhook_status_decides_retry(
    http_server: Recorder, status: int, retryable: bool
) -> None:
    error = await refused(
        WebhookChannel(LOOPBACK), outbound({"url": f"{http_server.url}/{status}"})
    )
    assert error.retryable is retryable
    assert str(status) in error.message


async def test_webhook_timeout_and_refused_connection_are_retryable(http_server: Recorder) -> None:
    slow = await refused(WebhookChannel(LOOPBACK), outbound({"url": f"{http_server.url}/slow"}))
    assert slow.retryable
    assert "timed out" in slow.message

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = await refused(WebhookChannel(LOOPBACK), outbound({"url": f"http://127.0.0.1:{port}/"}))
    assert down.retryable


async def test_webhook_url_path_stays_out_of_error_messages(http_server: Recorder) -> None:
    error = await refused(
        WebhookChannel(LOOPBACK), outbound({"url": f"{http_server.url}/500?token=s3cr3t"})
    )
    assert "s3cr3t" not in error.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.5/hook", "refused: 10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
        ("http://[::1]:9/hook", "refused: ::1 is a loopback address"),
        ("http://[::ffff:10.0.0.5]/hook", "private address"),
        ("https://192.168.1.1/hook", "refused: 192.168.1.1 is a private address"),
        ("http://0.0.0.0:9/", "unspecified address"),
        ("http://100.64.0.1/", "non-public address"),
    ],
)
async def test_ssrf_guard_refuses_non_public_addresses(url: str, says: str) -> None:
    error = await refused(WebhookChannel(PUBLIC_ONLY), outbound({"url": url}))
    assert not error.retryable
    assert says in error.message


async def test_ssrf_guard_refuses_loopback_before_any_connection(http_server: Recorder) -> None:
    port = http_server.server_address[1]
    by_address = await refused(
        WebhookChannel(PUBLIC_ONLY), outbound({"url": f"http://127.0.0.1:{port}/ok"})
    )
    by_name = await refused(
        WebhookChannel(PUBLIC_ONLY), outbound({"url": f"http://localhost:{port}/ok"})
    )
    assert by_address.message == "refused: 127.0.0.1 is a loopback address"
    assert by_name.message.startswith("refused: localhost resolves to ")
    assert "loopback" in by_name.message
    assert not by_address.retryable
    assert not by_name.retryable
    assert http_server.connections == 0
    assert http_server.seen == []


async def test_metadata_address_stays_refused_inside_an_allowed_network() -> None:
    lenient = OutboundPolicy.from_setting("169.254.0.0/16,fd00::/8")
    error = await refused(WebhookChannel(lenient), outbound({"url": "http://169.254.169.254/"}))
    assert "cloud metadata" in error.message
    assert lenient.refusal(ipaddress.ip_address("fd00:ec2::254")) == "cloud metadata"
    assert lenient.refusal(ipaddress.ip_address("169.254.10.10")) is None


def test_policy_judges_addresses() -> None:
    def kind(text: str) -> str | None:
        return PUBLIC_ONLY.refusal(ipaddress.ip_address(text))

    assert kind("93.184.216.34") is None
    assert kind("2606:4700::1111") is None
    assert kind("224.0.0.1") == "multicast"
    assert kind("fe80::1") == "link-local"
    assert kind("169.254.1.1") == "link-local"
    assert kind("fc00::1") == "private"
    assert kind("240.0.0.1") == "reserved"
    assert kind("::ffff:127.0.0.1") == "loopback"
    assert LOOPBACK.refusal(ipaddress.ip_address("127.0.0.2")) is None
    with pytest.raises(ValueError, match="does not appear"):
        OutboundPolicy.from_setting("not-a-network")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", "cloud metadata"),  # 6to4 of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
        ("2001:0:a00:1:8000:63bf:bec9:aafe", "private"),  # Teredo, server 10.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("::a00:1", "private"),  # IPv4-compatible
        ("::ffff:a9fe:a9fe", "cloud metadata"),  # IPv4-mapped
    ],
)
def test_ipv6_addresses_embedding_non_public_ipv4_are_refused(address: str, kind: str) -> None:
    assert PUBLIC_ONLY.refusal(ipaddress.ip_address(address)) == kind


def test_ipv6_addresses_embedding_public_or_allowed_ipv4_pass() -> None:
    assert PUBLIC_ONLY.refusal(ipaddress.ip_address("2002:808:808::1")) is None
    internal = OutboundPolicy.from_setting("10.0.0.0/8")
    assert internal.refusal(ipaddress.ip_address("2002:a00:1::")) is None
    assert internal.refusal(ipaddress.ip_address("2002:a9fe:a9fe::")) == "cloud metadata"
    # The IPv6 address is judged too: NAT64's prefix is reserved unless allowed as well.
    assert internal.refusal(ipaddress.ip_address("64:ff9b::a00:1")) == "reserved"
    nat64 = OutboundPolicy.from_setting("10.0.0.0/8,64:ff9b::/96")
    assert nat64.refusal(ipaddress.ip_address("64:ff9b::a00:1")) is None


async def test_a_6to4_url_of_the_metadata_service_is_refused_before_connecting() -> None:
    error = await refused(
        WebhookChannel(PUBLIC_ONLY), outbound({"url": "http://[2002:a9fe:a9fe::]/"})
    )
    assert error.message == (
        "refused: 2002:a9fe:a9fe:: embeds 169.254.169.254, a cloud metadata address"
    )
    assert not error.retryable


def test_webhook_config_faults() -> None:
    channel = WebhookChannel(LOOPBACK)

    def paths(config: Mapping[str, Any], credentials: Mapping[str, str]) -> list[Any]:
        return [fault.path for fault in channel.check_config(config, credentials)]

    assert paths({"url": "https://example.com/h"}, {"secret": SECRET}) == []
    assert paths({}, {}) == [("config", "url"), ("credentials", "secret")]
    assert paths({"url": "ftp://example.com/"}, {"secret": "whsec_!!notbase64"}) == [
        ("config", "url"),
        ("credentials", "secret"),
    ]
    assert paths(
        {"url": "https://example.com", "headers": {"Webhook-Signature": "v1,forged", "X-A": 1}},
        {"secret": SECRET},
    ) == [("config", "headers", "Webhook-Signature"), ("config", "headers", "X-A")]
    faults = channel.check_config({"url": "https://e.com", "headers": ["x"]}, {"secret": SECRET})
    assert faults == [ConfigFault(("config", "headers"), "headers must be an object of strings")]


async def test_webhook_with_bad_config_fails_for_good(http_server: Recorder) -> None:
    error = await refused(
        WebhookChannel(LOOPBACK),
        outbound({"url": f"{http_server.url}/ok", "headers": {"webhook-id": "forged"}}),
    )
    assert not error.retryable
    assert http_server.seen == []


# --- sms -----------------------------------------------------------------------------------


async def test_sms_posts_once_per_recipient(http_server: Recorder) -> None:
    config = {"provider_url": f"{http_server.url}/sms", "from": "+33100000000"}
    message = outbound(
        config, {"api_key": "k-123"}, body="Visit at 9", recipients=["+33612345678", "+14155550100"]
    )
    sent = await SmsChannel(LOOPBACK).send(message)

    assert sent.provider_message_id == "sms-1,sms-2"
    assert [json.loads(seen.body) for seen in http_server.seen] == [
        {"to": "+33612345678", "from": "+33100000000", "body": "Visit at 9"},
        {"to": "+14155550100", "from": "+33100000000", "body": "Visit at 9"},
    ]
    assert {seen.headers["authorization"] for seen in http_server.seen} == {"Bearer k-123"}
    assert [seen.headers["idempotency-key"] for seen in http_server.seen] == [
        f"{message.idempotency_key}-1",
        f"{message.idempotency_key}-2",
    ]


async def test_sms_refuses_bad_numbers_before_sending_any(http_server: Recorder) -> None:
    config = {"provider_url": f"{http_server.url}/sms", "from": "Acme"}
    message = outbound(config, {"api_key": "k"}, recipients=["+33612345678", "0612345678"])
    error = await refused(SmsChannel(LOOPBACK), message)
    assert not error.retryable
    assert "0612345678" in error.message
    assert http_server.seen == []


async def test_sms_provider_errors_and_guard(http_server: Recorder) -> None:
    config = {"provider_url": f"{http_server.url}/503", "from": "Acme"}
    busy = await refused(
        SmsChannel(LOOPBACK), outbound(config, {"api_key": "k"}, recipients=["+15550100"])
    )
    assert busy.retryable

    guarded = await refused(
        SmsChannel(PUBLIC_ONLY),
        outbound(
            config | {"provider_url": f"{http_server.url}/sms"},
            {"api_key": "k"},
            recipients=["+15550100"],
        ),
    )
    assert "loopback" in guarded.message
    assert http_server.connections == 1
    assert SmsChannel(LOOPBACK).check_config({}, {}) == [
        ConfigFault(("config", "provider_url"), "a URL is required"),
        ConfigFault(("config", "from"), "a sender number or name is required"),
        ConfigFault(("credentials", "api_key"), "an API key is required"),
    ]


# --- email ---------------------------------------------------------------------------------


def smtp_config(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    return {"smtp_host": host, "smtp_port": port, "from": "Acme <alerts@acme.test>"}


async def test_email_is_delivered_with_a_stable_message_id(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    message = outbound(
        smtp_config(port),
        {},
        subject="Inspection due",
        body="Site A is due tomorrow.",
        recipients=["ops@acme.test", "Boss <boss@acme.test>"],
        key="run-1:email",
    )
    sent = await EmailChannel(LOOPBACK).send(message)
    again = await EmailChannel(LOOPBACK).send(message)

    assert sent.provider_message_id == again.provider_message_id
    assert sent.provider_message_id is not None
    assert sent.provider_message_id.endswith("@acme.test>")
    [first, second] = mailbox.envelopes
    assert first.mail_from == "alerts@acme.test"
    assert first.rcpt_tos == ["ops@acme.test", "boss@acme.test"]
    parsed = email.message_from_bytes(first.content, policy=email.policy.default)
    assert parsed["Subject"] == "Inspection due"
    assert parsed["From"] == "Acme <alerts@acme.test>"
    assert parsed["To"] == "ops@acme.test, Boss <boss@acme.test>"
    assert parsed["Message-ID"] == sent.provider_message_id
    assert parsed.get_content().strip() == "Site A is due tomorrow."
    assert email.message_from_bytes(second.content)["Message-ID"] == sent.provider_message_id


async def test_email_smtp_answers_decide_retry(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    channel = EmailChannel(LOOPBACK)
    gone = await refused(channel, outbound(smtp_config(port), {}, recipients=["nobody@acme.test"]))
    busy = await refused(channel, outbound(smtp_config(port), {}, recipients=["busy@acme.test"]))
    bad = await refused(channel, outbound(smtp_config(port), {}, recipients=["not an address"]))
    assert not gone.retryable
    assert busy.retryable
    assert not bad.retryable
    assert mailbox.envelopes == []

    partial = await channel.send(
        outbound(smtp_config(port), {}, recipients=["ops@acme.test", "nobody@acme.test"])
    )
    assert "nobody@acme.test (550)" in partial.detail
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["ops@acme.test"]]


async def test_email_guard_and_unreachable_server(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    guarded = await refused(
        EmailChannel(PUBLIC_ONLY),
        outbound(smtp_config(port, "localhost"), {}, recipients=["a@b.co"]),
    )
    assert not guarded.retryable
    assert "loopback" in guarded.message

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
    down = await refused(
        EmailChannel(LOOPBACK), outbound(smtp_config(free), {}, recipients=["a@b.co"])
    )
    assert down.retryable
    assert mailbox.envelopes == []
    assert EmailChannel(LOOPBACK).check_config(
        {"smtp_host": "mx", "smtp_port": 0, "from": "x", "starttls": True, "use_tls": True},
        {"username": "u"},
    ) == [
        ConfigFault(("config", "smtp_port"), "a port between 1 and 65535"),
        ConfigFault(("config", "from"), "a sender email address is required"),
        ConfigFault(("config", "use_tls"), "use_tls excludes starttls"),
        ConfigFault(("credentials", "password"), "username and password go together"),
    ]


# --- registry ------------------------------------------------------------------------------


class EchoChannel:
    name = "echo"

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        return []

    async def send(self, message: Outbound) -> Sent:
        return Sent(message.idempotency_key)


def make_echo(policy: OutboundPolicy) -> EchoChannel:
    return EchoChannel(policy)


def make_broken(policy: OutboundPolicy) -> EchoChannel:
    raise RuntimeError("plugin bug")


def test_registry_registers_and_finds_channels_by_name() -> None:
    registry = ChannelRegistry()
    echo = EchoChannel(LOOPBACK)
    registry.register(echo)
    assert registry.get("echo") is echo
    assert registry.get("fax") is None
    with pytest.raises(ValueError, match="already registered"):
        registry.register(EchoChannel(LOOPBACK))
    # Annotated so mypy checks the implementations against the ports.
    builtins: Channels = default_channels(LOOPBACK, plugins=False)
    assert builtins.names() == ["email", "sms", "webhook"]
    channels: list[Channel] = [
        WebhookChannel(LOOPBACK),
        SmsChannel(LOOPBACK),
        EmailChannel(LOOPBACK),
    ]
    assert [builtins.get(c.name).__class__ for c in channels] == [c.__class__ for c in channels]


def test_entry_points_add_channels_and_broken_ones_are_skipped() -> None:
    module = __name__
    found = [
        EntryPoint("echo", f"{module}:make_echo", ENTRY_POINT_GROUP),
        EntryPoint("broken", f"{module}:make_broken", ENTRY_POINT_GROUP),
        EntryPoint("missing", "no_such_module_here:make", ENTRY_POINT_GROUP),
    ]
    registry = default_channels(LOOPBACK, found=found)
    assert registry.names() == ["echo", "email", "sms", "webhook"]
    echo = registry.get("echo")
    assert isinstance(echo, EchoChannel)
    assert echo.policy is LOOPBACK


def test_installed_entry_points_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real distribution's metadata on sys.path, as `pip install` would leave it."""
    dist = tmp_path / "bsdflow_echo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bsdflow-echo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\necho = {__name__}:make_echo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "echo" in default_channels(LOOPBACK).names()


def test_destinations_outside_the_allow_list_are_config_faults() -> None:
    for url in ("http://localhost:8080/in", "http://127.0.0.1/in", "http://[::1]/in"):
        [fault] = [
            f
            for f in WebhookChannel(PUBLIC_ONLY).check_config({"url": url}, {"secret": SECRET})
            if "BSDFLOW_OUTBOUND_ALLOW" in f.message
        ]
        assert fault.path == ("config", "url")
        assert "loopback" in fault.message
    lenient = WebhookChannel(LOOPBACK)
    assert lenient.check_config({"url": "http://localhost/"}, {"secret": SECRET}) == []
