"""Without BSDFLOW_LLM_URL, LLM assistance is off and says how to turn it on."""

from __future__ import annotations

from typing import Any

from tests.integration.test_graphql import graphql  # noqa: F401  (the fixture)


async def test_assistance_without_a_configured_model_says_how_to_configure_one(
    graphql: Any,  # noqa: F811
) -> None:
    body = await graphql.query('{ suggestSchedule(words: "every Monday at 9") { valid } }')
    (error,) = body["errors"]
    assert error["path"] == ["suggestSchedule"]
    assert "LLM assistance is off: set BSDFLOW_LLM_URL" in error["message"]
