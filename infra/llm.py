"""The language model behind LLM assistance: an OpenAI-compatible chat-completions endpoint,
over httpx. Each call is counted against the tenant's daily token budget (in Redis, shared by
every API process) and recorded as an `AssistantCall` event in the asker's name."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from anyio import to_thread

from commands.assistant_calls import AssistantCalls
from domain.assistant_call import AssistantCall
from infra.settings import LlmSettings
from read_api.ports import AssistantUnavailable, Completion, Viewer

OFF = (
    "LLM assistance is off: set BSDFLOW_LLM_URL (an OpenAI-compatible API such as "
    "https://api.openai.com/v1 or Ollama's http://127.0.0.1:11434/v1) and BSDFLOW_LLM_MODEL"
)


@dataclass
class Usage:
    model: str
    prompt: int = 0
    completion: int = 0


@dataclass
class ChatCompletions:
    settings: LlmSettings
    redis: aioredis.Redis
    calls: AssistantCalls
    prefix: str
    _http: httpx.AsyncClient | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{str(self.settings.url).rstrip('/')}/chat/completions"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = (
                {"Authorization": f"Bearer {self.settings.api_key}"}
                if self.settings.api_key
                else {}
            )
            self._http = httpx.AsyncClient(headers=headers, timeout=self.settings.timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def complete(
        self,
        viewer: Viewer,
        feature: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None = None,
    ) -> Completion:
        await self._admit(viewer)
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
        }
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": feature.replace("-", "_"), "schema": schema},
            }
        usage = Usage(self.settings.model)
        started = time.perf_counter()
        outcome = "answered"
        try:
            reply = await self._post(body)
            try:
                answer = reply.json()
                text = answer["choices"][0]["message"]["content"]
                tokens = answer.get("usage") or {}
                usage = Usage(
                    str(answer.get("model") or self.settings.model),
                    int(tokens.get("prompt_tokens", 0)),
                    int(tokens.get("completion_tokens", 0)),
                )
            except (ValueError, KeyError, IndexError, TypeError):
                outcome = "malformed"
                raise AssistantUnavailable(
                    "the language model's answer was not the chat-completions JSON expected"
                ) from None
            if not isinstance(text, str):
                outcome = "malformed"
                raise AssistantUnavailable("the language model answered no text")
            return Completion(text, usage.model, usage.prompt, usage.completion)
        except _Failed as failed:
            outcome = failed.outcome
            raise AssistantUnavailable(failed.message) from None
        finally:
            await self._record(viewer, feature, usage, started, outcome)

    async def stream(
        self, viewer: Viewer, feature: str, messages: list[dict[str, str]]
    ) -> AsyncIterator[str]:
        await self._admit(viewer)
        body = {"model": self.settings.model, "messages": messages, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        usage = Usage(self.settings.model)
        started = time.perf_counter()
        outcome = "answered"
        try:
            async with self._client().stream("POST", self.url, json=body) as reply:
                if reply.status_code != 200:
                    await reply.aread()
                    failed = _failure(reply)
                    outcome = failed.outcome
                    raise AssistantUnavailable(failed.message)
                async for line in reply.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        outcome = "malformed"
                        raise AssistantUnavailable(
                            "the language model's stream broke off"
                        ) from None
                    if chunk.get("usage"):
                        usage.prompt = int(chunk["usage"].get("prompt_tokens", 0))
                        usage.completion = int(chunk["usage"].get("completion_tokens", 0))
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield str(piece)
        except httpx.TimeoutException:
            outcome = "timed out"
            raise AssistantUnavailable(self._timed_out()) from None
        except httpx.HTTPError as exc:
            outcome = "unreachable"
            raise AssistantUnavailable(f"cannot reach the language model: {exc}") from None
        finally:
            await self._record(viewer, feature, usage, started, outcome)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            reply = await self._client().post(self.url, json=body)
        except httpx.TimeoutException:
            raise _Failed("timed out", self._timed_out()) from None
        except httpx.HTTPError as exc:
            raise _Failed("unreachable", f"cannot reach the language model: {exc}") from None
        if reply.status_code != 200:
            raise _failure(reply)
        return reply

    def _timed_out(self) -> str:
        return f"the language model did not answer within {self.settings.timeout:g} s"

    def _budget_key(self, viewer: Viewer) -> str:
        return f"{self.prefix}:llm-tokens:{viewer.tenant_id}:{datetime.now(UTC).date()}"

    async def _admit(self, viewer: Viewer) -> None:
        used = int(await self.redis.get(self._budget_key(viewer)) or 0)
        if used >= self.settings.tokens_per_day:
            raise AssistantUnavailable(
                f"this organisation has used its {self.settings.tokens_per_day:,} language-model "
                "tokens for today"
            )

    async def _record(
        self, viewer: Viewer, feature: str, usage: Usage, started: float, outcome: str
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        spent = usage.prompt + usage.completion
        if spent:
            key = self._budget_key(viewer)
            await self.redis.incrby(key, spent)
            await self.redis.expire(key, 2 * 86_400)
        call = AssistantCall(
            tenant_id=viewer.tenant_id,
            actor=viewer.actor,
            feature=feature,
            model=usage.model,
            prompt_tokens=usage.prompt,
            completion_tokens=usage.completion,
            latency_ms=round(latency_ms, 1),
            outcome=outcome,
        )
        await to_thread.run_sync(self.calls.record, call)


class _Failed(Exception):
    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def _failure(reply: httpx.Response) -> _Failed:
    if reply.status_code == 429:
        wait = reply.headers.get("retry-after")
        after = f"; retry in {wait} s" if wait else ""
        return _Failed("rate limited", f"the language model is rate limited{after}")
    return _Failed("refused", f"the language model answered HTTP {reply.status_code}")
