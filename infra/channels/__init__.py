"""Delivery channels by name: the built-ins plus any installed under the `bsdflow.channels` group.

A third-party package adds a channel without touching the core by declaring, in its metadata,

    [project.entry-points."bsdflow.channels"]
    telegram = "bsdflow_telegram:make_channel"   # make_channel(policy: OutboundPolicy) -> Channel

and building its HTTP client with `infra.channels.http_post.guarded_client(policy)` so the
outbound guard applies to it as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

import structlog

from automation.ports import Channel
from infra.channels.email import EmailChannel
from infra.channels.network import OutboundPolicy
from infra.channels.sms import SmsChannel
from infra.channels.webhook import WebhookChannel

ENTRY_POINT_GROUP = "bsdflow.channels"

log = structlog.get_logger("bsdflow.channels")

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChannelRegistry",
    "EmailChannel",
    "OutboundPolicy",
    "SmsChannel",
    "WebhookChannel",
    "default_channels",
    "plugin_channels",
]


class ChannelRegistry:
    """The `Channels` port: a name → channel map that refuses accidental overrides."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel, *, replace: bool = False) -> None:
        if not replace and channel.name in self._channels:
            raise ValueError(f"a channel named {channel.name!r} is already registered")
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def names(self) -> list[str]:
        return sorted(self._channels)


def _looks_like_channel(candidate: object) -> bool:
    name = getattr(candidate, "name", None)
    return (
        isinstance(name, str)
        and bool(name)
        and callable(getattr(candidate, "send", None))
        and callable(getattr(candidate, "check_config", None))
    )


def plugin_channels(
    policy: OutboundPolicy, found: Iterable[EntryPoint] | None = None
) -> list[Channel]:
    """Channels built by the entry points (by default, those installed under the group).

    A broken plugin is logged and skipped: one faulty package must not stop every other
    channel from delivering.
    """
    channels: list[Channel] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP) if found is None else found:
        try:
            channel = entry.load()(policy)
        except Exception as exc:
            log.warning("channel plugin failed to load", entry_point=entry.value, error=repr(exc))
            continue
        if not _looks_like_channel(channel):
            log.warning("channel plugin is not a channel", entry_point=entry.value)
            continue
        channels.append(channel)
    return channels


def default_channels(
    policy: OutboundPolicy, *, plugins: bool = True, found: Iterable[EntryPoint] | None = None
) -> ChannelRegistry:
    """Email, SMS and webhook, then the plugins (which may add names, not replace built-ins)."""
    registry = ChannelRegistry([EmailChannel(policy), SmsChannel(policy), WebhookChannel(policy)])
    for channel in plugin_channels(policy, found) if plugins else []:
        try:
            registry.register(channel)
        except ValueError as exc:
            log.warning("channel plugin skipped", channel=channel.name, error=str(exc))
    return registry
