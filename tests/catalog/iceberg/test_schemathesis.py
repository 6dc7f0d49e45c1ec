"""Schemathesis on the Iceberg REST API's OpenAPI: no server error, every refusal in the spec's error model."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pyiceberg.catalog.sql import SqlCatalog
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure

from catalog.api import create_app
from catalog.iceberg import PREFIX, iceberg_router
from catalog.service import CatalogService
from tests.catalog.iceberg.conftest import Lake
from tests.openapi_operations import Operation, operations_by_label

_service = CatalogService.open("sqlite://")
_spec = create_app(_service, [iceberg_router(lambda: SqlCatalog("unused", uri="sqlite://"))]).openapi()
_spec["paths"] = {path: item for path, item in _spec["paths"].items() if path.startswith(PREFIX)}
SCHEMA = schemathesis.openapi.from_dict(_spec)
OPERATIONS = operations_by_label(SCHEMA)
_service.close()


class NotIcebergError(Failure):
    """A refusal whose body is not `{"error": {"message", "type", "code"}}`."""


def iceberg_error_model(
    ctx: object, response: schemathesis.Response, case: schemathesis.Case[Operation]
) -> bool | None:
    """Every 4xx answer (but HEAD's and OAuth's, which have their own) is the spec's IcebergErrorResponse."""
    if response.status_code < 400 or case.method.upper() == "HEAD" or case.path.endswith("/oauth/tokens"):
        return None
    error = response.json().get("error") if response.text else None
    if (
        not (isinstance(error, dict) and {"message", "type", "code"} <= error.keys())
        or error["code"] != response.status_code
    ):
        raise NotIcebergError(
            operation=case.operation.label, title="Not the Iceberg error model", message=response.text
        )
    return None


def test_the_spec_has_the_endpoints_the_issue_names() -> None:
    assert {
        "GET /iceberg/v1/config",
        "POST /iceberg/v1/oauth/tokens",
        "GET /iceberg/v1/namespaces",
        "GET /iceberg/v1/namespaces/{namespace}",
        "HEAD /iceberg/v1/namespaces/{namespace}",
        "GET /iceberg/v1/namespaces/{namespace}/tables",
        "POST /iceberg/v1/namespaces/{namespace}/tables",
        "GET /iceberg/v1/namespaces/{namespace}/tables/{table}",
        "HEAD /iceberg/v1/namespaces/{namespace}/tables/{table}",
        "POST /iceberg/v1/namespaces/{namespace}/tables/{table}",
        "DELETE /iceberg/v1/namespaces/{namespace}/tables/{table}",
        "POST /iceberg/v1/transactions/commit",
    } <= set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors(label: str, mode: GenerationMode, lake: Lake) -> None:
    """The owner's token, so generated commits reach the commit path (requirements, updates, metadata); negative
    cases are malformed (bodies, parameters of the wrong type or shape) and must be refused in the error model."""
    base_url = lake.uri.removesuffix(PREFIX)
    headers = {"Authorization": f"Bearer {lake.tokens['orders']}"}

    @given(case=OPERATIONS[label].as_strategy(mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case[Operation]) -> None:
        case.call_and_validate(
            base_url=base_url, headers=headers, checks=[not_a_server_error, iceberg_error_model], timeout=30
        )

    run()
