"""When iterations start: k6's constant-arrival-rate, ramping-arrival-rate and constant-vus.

Arrival-rate executors are an open model: iteration n starts at its scheduled time whether or
not earlier ones have finished, so a slow server meets the same demand (closed-loop tools
quietly back off and hide the slowness). When `max_in_flight` iterations are already running
an arrival is dropped and counted, as k6 does, rather than queued. The lag between an
iteration's scheduled and actual start is recorded: if it grows, the load generator itself is
the bottleneck and the figures say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from loadtest.metrics import Recorder
from loadtest.scenario import ConstantArrivalRate, ConstantVUs, RampingArrivalRate

Iteration = Callable[[], Coroutine[Any, Any, None]]
TICK = 0.2
"""How often closed-model users are checked for the end of the run."""


def arrival_offsets(start_rate: float, stages: list[tuple[float, float]]) -> Iterator[float]:
    """Start times (seconds from the beginning) of arrivals whose rate moves linearly from
    stage to stage; the k-th arrival is where the integrated rate reaches k."""
    elapsed = counted = 0.0
    due = 0.0
    rate = start_rate
    for target, length in stages:
        if length <= 0:
            rate = target
            continue
        a = (target - rate) / (2 * length)
        b = rate
        total = (rate + target) / 2 * length
        while due - counted <= total + 1e-9:
            k = due - counted
            # The root of a·t² + b·t = k, in the form that stays exact as a → 0.
            root = math.sqrt(max(b * b + 4 * a * k, 0.0))
            if k == 0:
                t = 0.0
            elif b + root <= 0:
                break
            else:
                t = 2 * k / (b + root)
            if t > length:
                break
            yield elapsed + t
            due += 1
        counted += total
        elapsed += length
        rate = target


async def run_arrivals(
    offsets: Iterator[float],
    *,
    duration: float,
    iterations: int | None,
    max_in_flight: int,
    iteration: Iteration,
    recorder: Recorder,
    stop: asyncio.Event,
    grace: float,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    in_flight: set[asyncio.Task[None]] = set()
    for n, offset in enumerate(offsets):
        if offset >= duration or stop.is_set():
            break
        if iterations is not None and recorder.started >= iterations:
            break
        due = start + offset
        remaining = due - loop.time()
        if remaining > 0:
            if await _stopped_within(stop, remaining):  # woken by Ctrl-C or by the schedule
                break
        elif n % 64 == 0:
            await asyncio.sleep(0)  # behind schedule: still let responses be read
        if len(in_flight) >= max_in_flight:
            recorder.dropped += 1
            continue
        recorder.started += 1
        recorder.schedule_lag.append(max(0.0, loop.time() - due))
        task = loop.create_task(iteration())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    # The window is the scenario's duration even when the last arrival came earlier, so that
    # rates divide by the time the load was actually offered.
    await _stopped_within(stop, max(start + duration - loop.time(), 0.0))
    await _finish(set(in_flight), grace, recorder)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless Ctrl-C comes first; True if it did."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


async def run_vus(
    executor: ConstantVUs,
    iteration: Iteration,
    recorder: Recorder,
    stop: asyncio.Event,
    grace: float,
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + executor.duration
    limit = executor.iterations

    async def virtual_user() -> None:
        while not stop.is_set() and loop.time() < end:
            if limit is not None and recorder.started >= limit:
                return
            recorder.started += 1
            await iteration()
            if executor.think_time:
                await asyncio.sleep(executor.think_time)

    users = {loop.create_task(virtual_user()) for _ in range(executor.vus)}
    while users and loop.time() < end and not stop.is_set():
        _, users = await asyncio.wait(users, timeout=min(TICK, max(end - loop.time(), 0.0)))
    await _finish(users, grace, recorder)


async def execute(
    executor: ConstantArrivalRate | RampingArrivalRate | ConstantVUs,
    iteration: Iteration,
    recorder: Recorder,
    stop: asyncio.Event,
    grace: float,
) -> None:
    if isinstance(executor, ConstantVUs):
        await run_vus(executor, iteration, recorder, stop, grace)
        return
    if isinstance(executor, ConstantArrivalRate):
        offsets = arrival_offsets(executor.rate, [(executor.rate, executor.duration)])
    else:
        stages = [(stage.target, stage.duration) for stage in executor.stages]
        offsets = arrival_offsets(executor.start_rate, stages)
    await run_arrivals(
        offsets,
        duration=executor.duration,
        iterations=executor.iterations,
        max_in_flight=executor.max_in_flight,
        iteration=iteration,
        recorder=recorder,
        stop=stop,
        grace=grace,
    )


async def _finish(tasks: set[asyncio.Task[None]], grace: float, recorder: Recorder) -> None:
    """Let running iterations end (each is bounded by the request timeout); cancel the rest."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    recorder.interrupted += len(pending)
    if pending:
        await asyncio.wait(pending)


def target_rate(
    executor: ConstantArrivalRate | RampingArrivalRate | ConstantVUs, elapsed: float
) -> float | None:
    """The arrival rate the executor asks for at `elapsed` seconds (None: closed model)."""
    if isinstance(executor, ConstantVUs):
        return None
    if isinstance(executor, ConstantArrivalRate):
        return executor.rate
    rate, start = executor.start_rate, 0.0
    for stage in executor.stages:
        if elapsed < start + stage.duration:
            share = (elapsed - start) / stage.duration if stage.duration else 1.0
            return rate + (stage.target - rate) * share
        rate, start = stage.target, start + stage.duration
    return rate
