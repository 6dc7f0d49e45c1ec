"""A schema imports the .proto files of an installed Python package by their own path, like protoc's include path."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.adapters.protobuf import compile_schemas
from pipelines.core.proto_schema import arrow_schema

ROOT = Path(__file__).parents[1] / "fixtures" / "installed"


def test_google_type_protos_of_googleapis_common_protos_are_found_and_mapped() -> None:
    schemas = compile_schemas(ROOT)
    invoice = arrow_schema(schemas.descriptor("meshlake.billing.v1.InvoiceIssued"))

    assert invoice.field("total").type.names == ["currency_code", "units", "nanos"]
    assert invoice.field("due").type == pa.struct(
        [pa.field(name, pa.int32(), nullable=False) for name in ("year", "month", "day")]
    )
    assert "google/type/money.proto" in {f.name for f in schemas.descriptor_set.file}
    assert schemas.messages() == ["meshlake.billing.v1.InvoiceIssued"]  # an import is not one of the project's
