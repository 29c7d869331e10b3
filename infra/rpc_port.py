"""The command side's RequestReply port, served by the Kafka request-reply client."""

from __future__ import annotations

import threading
from typing import Any

from commands.ports import NoReply
from infra.doorbell import Doorbell
from infra.rpc import RpcTimeout
from infra.rpc_client import RpcClient


class BusRequests:
    """The command side's RequestReply port over Kafka, started on first use."""

    def __init__(self, bootstrap: str, doorbell: Doorbell | None = None) -> None:
        self.bootstrap = bootstrap
        self.doorbell = doorbell
        self._client: RpcClient | None = None
        self._lock = threading.Lock()

    def client(self) -> RpcClient:
        with self._lock:
            if self._client is None:
                self._client = RpcClient(self.bootstrap, doorbell=self.doorbell).start()
            return self._client

    async def request(
        self,
        topic: str,
        payload: dict[str, Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - also the deadline the server is told
    ) -> dict[str, Any]:
        try:
            return await self.client().request(topic, payload, timeout)
        except RpcTimeout as exc:
            raise NoReply(str(exc)) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
