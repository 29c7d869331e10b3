"""What a load test does, as a pydantic model read from YAML.

A scenario names an executor (how iterations are started), a weighted mix of operations (what
one iteration does), the data to generate, the subscriptions to hold open and the thresholds
that decide the verdict. Every model forbids unknown keys so a typo in a YAML file is an error,
not a silently ignored setting.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|s|m|h)")
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Seconds from a number (already seconds) or a string like `500ms`, `10s`, `1m30s`."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '10s'")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a string like '10s'")
    text = value.strip().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (try '500ms', '10s', '2m')")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConstantArrivalRate(Strict):
    """Open model: `rate` iterations start each second whether or not earlier ones finished."""

    type: Literal["constant-arrival-rate"]
    rate: float = Field(gt=0)
    duration: Seconds
    iterations: int | None = Field(None, ge=1, description="stop after this many")
    max_in_flight: int = Field(100, ge=1, description="beyond this, arrivals are dropped")


class Stage(Strict):
    target: float = Field(ge=0)
    duration: Seconds


class RampingArrivalRate(Strict):
    """Open model whose rate moves linearly from stage to stage (k6's ramping-arrival-rate)."""

    type: Literal["ramping-arrival-rate"]
    start_rate: float = Field(0, ge=0)
    stages: list[Stage] = Field(min_length=1)
    iterations: int | None = Field(None, ge=1)
    max_in_flight: int = Field(100, ge=1)

    @property
    def duration(self) -> float:
        return sum(stage.duration for stage in self.stages)


class ConstantVUs(Strict):
    """Closed model: `vus` loops, each starting its next iteration when the last one ends."""

    type: Literal["constant-vus"]
    vus: int = Field(ge=1)
    duration: Seconds
    iterations: int | None = Field(None, ge=1)
    think_time: Seconds = 0.0


Executor = Annotated[
    ConstantArrivalRate | RampingArrivalRate | ConstantVUs, Field(discriminator="type")
]


class Operation(Strict):
    """One entry of the mix: a built-in step (see `steps.BUILTIN`) or `custom` with `call`."""

    op: str
    weight: float = Field(1.0, gt=0)
    name: str | None = Field(None, description="label in the report; defaults to `op`")
    call: str | None = Field(None, description="custom steps: 'module:function' or 'file.py:fn'")
    params: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return self.name or self.op

    @model_validator(mode="after")
    def _custom_needs_call(self) -> Operation:
        if (self.op == "custom") != (self.call is not None):
            raise ValueError("`call` is given exactly when op is 'custom'")
        return self


class DataSpec(Strict):
    """Generated data: what exists before the load starts and how new records look."""

    seed: int = 1
    tenant: Literal["auto", "token", "new"] = Field(
        "auto",
        description="the token's tenant, or a fresh `loadtest-…` one (needs the signing key); "
        "auto: a fresh one unless a --token was given, so a load test never writes into a "
        "tenant people use",
    )
    entity_types: int = Field(2, ge=1, le=4)
    entities: int = Field(20, ge=1, description="created during setup, before measuring")
    occurrence_kinds: list[str] = Field(["incident", "visit", "inspection"], min_length=1)
    typo_rate: float = Field(0.5, ge=0, le=1, description="share of search queries with a typo")
    setup_concurrency: int = Field(8, ge=1)


Stream = Literal["entityChanged", "occurrenceRecorded", "processChanged"]


class SubscriptionSpec(Strict):
    connections: int = Field(1, ge=0)
    streams: list[Stream] = ["entityChanged", "occurrenceRecorded", "processChanged"]
    ready_timeout: Seconds = 20.0


class FreshnessSpec(Strict):
    read_sample: float = Field(
        0.1, ge=0, le=1, description="share of commands followed by a read of what they wrote"
    )
    read_mode: Literal["header", "poll"] = "header"
    poll_interval: Seconds = 0.01
    read_timeout: Seconds = 10.0
    grace: Seconds = Field(5.0, description="how long to wait for late messages after the load")


class Scenario(Strict):
    name: str
    description: str = ""
    executor: Executor
    mix: list[Operation] = Field(min_length=1)
    data: DataSpec = DataSpec()
    subscriptions: SubscriptionSpec = SubscriptionSpec()
    freshness: FreshnessSpec = FreshnessSpec()
    thresholds: list[str] = []
    request_timeout: Seconds = 10.0
    source: Path | None = Field(None, exclude=True, description="the YAML file it came from")

    @property
    def duration(self) -> float:
        return self.executor.duration


def builtin_names() -> list[str]:
    folder = resources.files("loadtest") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name (`smoke`) or any YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        text, source = path.read_text(), path.resolve()
    else:
        shipped = resources.files("loadtest") / "scenarios" / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise FileNotFoundError(
                f"no scenario {name_or_path!r}: give a YAML path or one of {builtin_names()}"
            )
        text, source = shipped.read_text(), Path(str(shipped))
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: a scenario is a YAML mapping")
    return Scenario.model_validate({**raw, "source": source})


def with_overrides(
    scenario: Scenario,
    *,
    duration: float | None = None,
    rate: float | None = None,
    vus: int | None = None,
    iterations: int | None = None,
) -> Scenario:
    """The command line's knobs. A ramp keeps its shape: stages are scaled to the new total
    duration and targets to the new peak rate."""
    ex = scenario.executor
    change: dict[str, Any] = {}
    if iterations is not None:
        change["iterations"] = iterations
    if isinstance(ex, RampingArrivalRate):
        time_scale = duration / ex.duration if duration and ex.duration else 1.0
        peak = max([ex.start_rate, *(s.target for s in ex.stages)])
        rate_scale = rate / peak if rate and peak else 1.0
        change["start_rate"] = ex.start_rate * rate_scale
        change["stages"] = [
            Stage(target=s.target * rate_scale, duration=s.duration * time_scale) for s in ex.stages
        ]
    else:
        if duration is not None:
            change["duration"] = duration
        if rate is not None:
            if not isinstance(ex, ConstantArrivalRate):
                raise ValueError("--rate applies to arrival-rate executors; use --vus here")
            change["rate"] = rate
    if vus is not None:
        if not isinstance(ex, ConstantVUs):
            raise ValueError("--vus applies to the constant-vus executor; use --rate here")
        change["vus"] = vus
    executor = type(ex).model_validate({**ex.model_dump(), **change})
    return scenario.model_copy(update={"executor": executor})
