"""Schemathesis against the catalog's OpenAPI spec over real HTTP: no input yields a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from catalog.api import create_app
from catalog.model import VersionIn
from catalog.service import CatalogService
from tests.catalog.conftest import ORDERS, Seeded
from tests.openapi_operations import Operation, operations_by_label

# The spec is the app's own; each operation runs as one test (schemathesis' pytest plugin does not
# support pytest 9 yet, so hypothesis drives each operation's strategy directly).
_service = CatalogService.open("sqlite://")
SCHEMA = schemathesis.openapi.from_dict(create_app(_service).openapi())
OPERATIONS = operations_by_label(SCHEMA)
_service.close()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors(label: str, live: str, seeded: Seeded) -> None:
    """Admin token, so generated writes get past authorisation and reach the service layer."""
    seeded.service.register_version(
        ORDERS, "orders.daily_revenue", VersionIn(version=1, row_count=10, schema_hash="h1")
    )
    headers = {"Authorization": f"Bearer {seeded.tokens['admin']}"}

    @given(case=OPERATIONS[label].as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case[Operation]) -> None:
        case.call_and_validate(base_url=live, headers=headers, checks=[not_a_server_error], timeout=30)

    run()
