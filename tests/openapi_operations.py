"""The operations of an OpenAPI spec for schemathesis, by label."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.result import Err

Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def operations_by_label(schema: schemathesis.BaseSchema) -> dict[str, Operation]:
    """Each operation of `schema` by its label (`GET /api/health`); an operation the spec cannot give raises."""
    operations = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations[result.ok().label] = result.ok()
    return operations
