"""How deep recursive messages become columns: the field's option, else the domain's depth, else 3."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.adapters.protobuf import compile_schemas
from pipelines.bootstrap import contract_from_schemas
from pipelines.core.spec import DomainSpec

SCHEMAS = compile_schemas(Path(__file__).parents[1] / "fixtures" / "options")
PLANTED = "meshlake.recursion.v1.Planted"


def levels(type_: pa.DataType, field: str) -> int:
    """Struct levels of Node reached through `field` before it holds bytes."""
    inner = type_.field(field).type
    inner = inner.value_type if pa.types.is_list(inner) else inner
    return 1 + (levels(inner, field) if pa.types.is_struct(inner) else 0)


def test_a_field_option_sets_its_depth_and_the_domain_sets_the_others() -> None:
    assert SCHEMAS.recursion_depths == {"meshlake.recursion.v1.Node.deep": 5}
    default = contract_from_schemas(SCHEMAS, PLANTED).schema.field("root").type
    assert (levels(default, "children"), levels(default, "deep")) == (3, 5)
    shallow = contract_from_schemas(SCHEMAS, PLANTED, recursion_depth=1).schema.field("root").type
    assert (levels(shallow, "children"), levels(shallow, "deep")) == (1, 5)


def test_a_domain_says_its_depth_in_its_spec() -> None:
    spec = {"name": "trees", "owner": "team", "schemas": "recursion/v1", "events": {"planted": {"message": PLANTED}}}
    assert DomainSpec.model_validate(spec).recursion_depth == 3
    assert DomainSpec.model_validate({**spec, "recursion_depth": 6}).recursion_depth == 6
