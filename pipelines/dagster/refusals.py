"""A refused gold build fails its step without materialising the product, its check results still recorded.

Dagster records a materialisation when the asset returns, before a failing blocking check fails the
step, so a refused candidate would look like a fresh build of the product (last materialised,
freshness). The gold body raises `RefusedBuild` instead of returning; `refusing` then yields the
check results (they show on the asset's checks, aimed at its last real materialisation) and fails
the step with the refusal's message, which names the failing checks.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation of the wrapped body.

import functools
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg


class RefusedBuild(Exception):
    """The build's candidate failed an error-severity check: it was kept, not published."""

    def __init__(self, message: str, candidate: int, check_results: list[dg.AssetCheckResult]) -> None:
        super().__init__(message)
        self.candidate = candidate
        self.check_results = check_results


def refusing(body: Callable[..., dg.MaterializeResult]) -> Callable[..., Iterator[Any]]:
    """An asset body that yields its result, or, when it raises `RefusedBuild`, its check results and a step failure.

    Dagster reads the body's parameters through the wrapper (`functools.wraps`).
    """

    @functools.wraps(body)
    def run(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            result = body(context, *args, **kwargs)
        except RefusedBuild as refused:
            yield from refused.check_results
            failing = [str(c.check_name) for c in refused.check_results if not c.passed]
            raise dg.Failure(str(refused), metadata={"failing_checks": failing}, allow_retries=False) from None
        yield result

    return run
