"""Email over SMTP (aiosmtplib), connected through the outbound guard like every other channel.

The Message-ID is derived from the idempotency key, so every attempt of one run carries the
same id and mail systems that deduplicate on it show the message once.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib

from automation.ports import ConfigFault, DeliveryError, Outbound, Sent
from infra.channels.http_post import require_valid
from infra.channels.network import AddressRefused, OutboundPolicy, open_vetted_socket

_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+$")


def address_of(text: object) -> str | None:
    """The addr-spec of "a@b.c" or "Name <a@b.c>", or None when it is not one address."""
    if not isinstance(text, str) or any(c in text for c in "\r\n\0"):
        return None
    _, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    return address if at and local and _DOMAIN.match(domain) and "." in domain else None


def message_id(idempotency_key: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "bsdflow.invalid"
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


def _flag(config: Mapping[str, Any], key: str, faults: list[ConfigFault]) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        faults.append(ConfigFault(("config", key), "must be true or false"))
        return False
    return value


class EmailChannel:
    name: str = "email"

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        faults: list[ConfigFault] = []
        host = config.get("smtp_host")
        if not isinstance(host, str) or not host or any(c in host for c in "\r\n\0 /"):
            faults.append(ConfigFault(("config", "smtp_host"), "an SMTP host name is required"))
        port = config.get("smtp_port")
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ):
            faults.append(ConfigFault(("config", "smtp_port"), "a port between 1 and 65535"))
        if address_of(config.get("from")) is None:
            faults.append(ConfigFault(("config", "from"), "a sender email address is required"))
        starttls, use_tls = _flag(config, "starttls", faults), _flag(config, "use_tls", faults)
        if starttls and use_tls:
            faults.append(ConfigFault(("config", "use_tls"), "use_tls excludes starttls"))
        if ("username" in credentials) != ("password" in credentials):
            missing = "password" if "username" in credentials else "username"
            faults.append(
                ConfigFault(("credentials", missing), "username and password go together")
            )
        return faults

    def _build(self, message: Outbound, sender: str) -> tuple[EmailMessage, list[str]]:
        recipients = [address_of(r) for r in message.recipients]
        bad = [r for r, a in zip(message.recipients, recipients, strict=True) if a is None]
        if bad or not recipients:
            reason = f"not email addresses: {', '.join(bad)}" if bad else "no recipients"
            raise DeliveryError(reason, retryable=False)
        email = EmailMessage()
        email["Subject"] = " ".join((message.subject or "").splitlines())
        email["From"] = message.config["from"]
        email["To"] = ", ".join(message.recipients)
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = message_id(message.idempotency_key, sender)
        email.set_content(message.body)
        return email, [a for a in recipients if a is not None]

    async def send(self, message: Outbound) -> Sent:
        config = message.config
        require_valid(self.check_config(config, message.credentials))
        sender = address_of(config["from"]) or ""
        email, recipients = self._build(message, sender)
        use_tls, starttls = bool(config.get("use_tls")), bool(config.get("starttls"))
        host: str = config["smtp_host"]
        port: int = config.get("smtp_port") or (465 if use_tls else 587 if starttls else 25)
        try:
            sock = await open_vetted_socket(host, port, self.policy)
        except AddressRefused:
            raise
        except (OSError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
            raise DeliveryError(
                f"SMTP {host}:{port} unreachable: {detail}", retryable=True
            ) from exc
        smtp = aiosmtplib.SMTP(
            hostname=host,  # TLS verifies this name, though the socket went to a vetted IP
            sock=sock,
            use_tls=use_tls,
            start_tls=starttls,
            timeout=self.policy.read_timeout,
            username=message.credentials.get("username"),
            password=message.credentials.get("password"),
        )
        try:
            await smtp.connect()
            refused, _ = await smtp.send_message(email, sender=sender, recipients=recipients)
            await smtp.quit()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            retryable = any(400 <= code < 500 for code in codes)
            raise DeliveryError(
                f"SMTP refused every recipient: {exc}", retryable=retryable
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.code < 500
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", retryable=retryable) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"SMTP {host}: {exc}", retryable=False) from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            raise DeliveryError(f"SMTP {host}:{port} timed out: {exc}", retryable=True) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError) as exc:
            raise DeliveryError(f"SMTP {host}:{port} failed: {exc}", retryable=True) from exc
        except aiosmtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP {host}: {exc}", retryable=False) from exc
        finally:
            smtp.close()
            sock.close()
        detail = f"{len(recipients) - len(refused)} recipient(s) accepted"
        if refused:
            detail += "; refused: " + ", ".join(f"{r} ({c.code})" for r, c in refused.items())
        return Sent(email["Message-ID"], detail=detail)
