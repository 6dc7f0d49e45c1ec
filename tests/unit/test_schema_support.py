"""What no table can hold is reported with file:line before anything runs; everything proto3 maps."""

from __future__ import annotations

from pathlib import Path

from pipelines.adapters.protobuf import compile_schemas
from pipelines.core.schema_support import unsupported_constructs

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_a_group_is_one_error_naming_file_line_and_field() -> None:
    schemas = compile_schemas(FIXTURES / "unsupported")

    [problem] = unsupported_constructs(schemas.descriptor_set, file_prefix="schemas/")

    assert str(problem).startswith("schemas/legacy/v1/legacy.proto:8: meshlake.legacy.v1.Legacy.result: FIELD_NO_GROUP")


def test_proto3_schemas_with_recursion_and_every_well_known_type_have_nothing_unsupported() -> None:
    assert unsupported_constructs(compile_schemas(FIXTURES / "proto").descriptor_set) == []
