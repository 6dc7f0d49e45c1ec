"""Messages unset in every row of a batch: every scalar type in every container shape reaches bronze in both formats.

A message field that producers do not fill yet (an optional message, a oneof member, a message
inside a repeated field or map value) must not fail its event type, whatever the batch size (the
fast decoder takes batches of 200 and more) and whichever rows set it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.adapters.protobuf import compile_schemas
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer
from pipelines.core.proto_decode import decode_payloads
from pipelines.core.spec import DomainSpec
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import MESH

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
HOLDER = "meshlake.containers.v1.Holder"
Holder = compile_schemas(FIXTURES).message_class(HOLDER)


def _runtime(home: Path, fmt: str) -> Runtime:
    spec = DomainSpec.model_validate(
        {"name": "boxes", "owner": "team-boxes", "schemas": "containers/v1", "events": {"held": {"message": HOLDER}}}
    )
    env = {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "MESHLAKE_SCHEMAS": str(FIXTURES)}
    return Runtime(Settings.load(project=MESH, env=env), domains=[Domain(spec=spec, transforms={})])


def _scalars(message: object, i: int) -> None:
    for name, value in {
        "f_double": i / 3,
        "f_float": 0.5,
        "f_int64": -i,
        "f_uint64": i,
        "f_int32": -i,
        "f_fixed64": i,
        "f_fixed32": i,
        "f_bool": True,
        "f_string": f"s{i}",
        "f_bytes": bytes([i % 256]),
        "f_uint32": i,
        "f_sfixed32": -i,
        "f_sfixed64": -i,
        "f_sint32": -i,
        "f_sint64": -i,
        "level": 1,
    }.items():
        setattr(message, name, value)
    message.tags.append(f"t{i}")  # type: ignore[attr-defined]
    message.counts[f"k{i}"] = i  # type: ignore[attr-defined]


def _payloads(n: int, fill: str) -> list[bytes]:
    """`fill`: every message field set in `all` rows, every third row (`some`), or in `none`."""
    out = []
    for i in range(n):
        event = Holder(id=f"e{i}")
        event.at.FromMicroseconds(1_700_000_000_000_000 + i)
        if fill == "all" or (fill == "some" and i % 3 == 1):
            _scalars(event.single, i)
            _scalars(event.many.add(), i)
            _scalars(event.by_key[f"k{i}"], i)
            _scalars(event.chosen, i)
            _scalars(event.wrapper.inner, i)
        elif fill == "some" and i % 3 == 2:
            event.other = "x"
            event.wrapper.note = "no inner"
        out.append(event.SerializeToString())
    return out


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("fill", ["all", "some", "none"])
@pytest.mark.parametrize("n", [1, 199, 200, 10_000])
def test_message_fields_set_in_all_some_or_no_rows_reach_bronze(tmp_path: Path, fmt: str, fill: str, n: int) -> None:
    runtime = _runtime(tmp_path / "home", fmt)
    payloads = _payloads(n, fill)
    write_landing_file(runtime.settings.landing_dir, "boxes", "held", "f1", payloads)
    contract = runtime.contract("boxes", "held")
    result = ingest_event(runtime.domain("boxes"), "held", contract, runtime.landing, runtime, "run-1")
    assert (result.rows_written, result.quarantined) == (n, 0)
    bronze = runtime.store_for("boxes", Layer.BRONZE).read(runtime.domain("boxes").bronze_table("held"))
    expected = decode_payloads(Holder, payloads, contract.schema).table
    got = bronze.drop_columns(["_ingest"]).sort_by("id")
    assert got.to_pylist() == expected.sort_by("id").to_pylist()


def _non_null_children_hold_nulls(array: pa.Array, type_: pa.DataType) -> bool:
    """Whether a non-nullable field anywhere below `array` holds a null, even under a null parent."""
    if pa.types.is_struct(type_):
        return any(
            (not f.nullable and array.field(i).null_count) or _non_null_children_hold_nulls(array.field(i), f.type)
            for i, f in enumerate(type_)
        )
    if pa.types.is_list(type_):
        return _non_null_children_hold_nulls(array.flatten(), type_.value_type)
    if pa.types.is_map(type_):
        return _non_null_children_hold_nulls(array.items, type_.item_type)
    return False


@pytest.mark.parametrize("n", [1, 200])
def test_unset_messages_decode_with_non_null_children(n: int) -> None:
    """Parquet writers check a non-nullable child even where its parent is null."""
    from pipelines.core.fast_decode import decode_payloads_fast

    table = decode_payloads_fast(Holder, _payloads(n, "none")).table
    for column, field in zip(table.columns, table.schema, strict=True):
        assert not _non_null_children_hold_nulls(column.combine_chunks(), field.type), field.name
