"""Deadline: a gRPC client interceptor that ends every call of a Spark Connect session by a deadline.

pyspark-client gives none of its calls a timeout: a server that accepts connections but stops answering
(stuck, paused, swapping) holds a build for ever, and `interruptAll` cannot help, being a call to that same
server. Each call made while a deadline is set is given the time left as its gRPC timeout, so it fails with
`DEADLINE_EXCEEDED` when the deadline passes, whatever the server does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import grpc


class _CallDetails(NamedTuple):
    """A call's details with another timeout (grpc's own details type is private)."""

    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class Deadline(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Gives each call the seconds left until `at` (`time.monotonic()`; None: no limit) as its timeout."""

    def __init__(self) -> None:
        self.at: float | None = None

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Calls made in the block end at most `seconds` from now (an outer deadline is put back after it)."""
        outer, self.at = self.at, time.monotonic() + seconds
        try:
            yield
        finally:
            self.at = outer

    def _bounded(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        if self.at is None:
            return details
        left = max(self.at - time.monotonic(), 0.001)  # past it: the call fails at once
        timeout = left if details.timeout is None else min(left, details.timeout)
        return _CallDetails(
            details.method, timeout, details.metadata, details.credentials, details.wait_for_ready, details.compression
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._bounded(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._bounded(details), request)
