"""What no table can hold is reported with file:line before anything runs; everything proto3 maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.adapters.protobuf import compile_schemas
from pipelines.core.schema_support import unsupported_constructs

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_a_group_is_one_error_naming_file_line_and_field() -> None:
    schemas = compile_schemas(FIXTURES / "unsupported")

    [problem] = unsupported_constructs(schemas.descriptor_set, file_prefix="schemas/")

    assert str(problem).startswith("schemas/legacy/v1/legacy.proto:8: meshlake.legacy.v1.Legacy.result: FIELD_NO_GROUP")


def test_proto3_schemas_with_recursion_and_every_well_known_type_have_nothing_unsupported() -> None:
    assert unsupported_constructs(compile_schemas(FIXTURES / "proto").descriptor_set) == []


def test_an_event_using_a_group_is_refused_when_its_contract_is_built_naming_file_and_line() -> None:
    from pipelines.bootstrap import contract_from_schemas
    from pipelines.core.proto_schema import ProtoSchemaError

    schemas = compile_schemas(FIXTURES / "unsupported")
    with pytest.raises(
        ProtoSchemaError, match=r"legacy/v1/legacy\.proto:8: meshlake\.legacy\.v1\.Legacy\.result: FIELD_NO_GROUP"
    ):
        contract_from_schemas(schemas, "meshlake.legacy.v1.Legacy")
