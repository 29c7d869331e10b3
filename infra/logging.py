"""Structured logs (structlog): JSON lines with request id, tenant and position bound in."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.types.Processor = structlog.dev.ConsoleRenderer()
    factory: structlog.types.WrappedLogger = structlog.PrintLoggerFactory(sys.stderr)
    stream = getattr(sys.stderr, "buffer", None)  # absent when a test harness captures stderr
    if json and stream is not None:
        # Every accepted command logs a line: orjson straight to bytes keeps it off the hot path.
        # NON_STR_KEYS: the stdlib renderer accepted int keys, and a log call must never raise.
        renderer = structlog.processors.JSONRenderer(
            serializer=orjson.dumps, option=orjson.OPT_NON_STR_KEYS
        )
        factory = structlog.BytesLoggerFactory(stream)
    elif json:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
