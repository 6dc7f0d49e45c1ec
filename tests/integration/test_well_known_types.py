"""Well-known types, unsigned integers past 2^63 and enum aliases reach bronze in both formats, losslessly.

Storage mapping (see README, "How protobuf types are stored"): Duration as int64 microseconds,
uint64/fixed64 as decimal(20,0), Struct/Value/ListValue as their protobuf JSON text, messages without
fields (Empty) as a boolean that is true where set, Any and FieldMask as structs of their fields,
enum values by their first declared name.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from pipelines.adapters.landing import write_landing_file
from pipelines.adapters.protobuf import compile_schemas
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer
from pipelines.core.spec import DomainSpec
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import MESH

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
KNOWN = "meshlake.wellknown.v1.Known"
Known = compile_schemas(FIXTURES).message_class(KNOWN)
TOP = 2**64 - 1


def _runtime(home: Path, fmt: str) -> Runtime:
    spec = DomainSpec.model_validate(
        {"name": "known", "owner": "team-known", "schemas": "wellknown/v1", "events": {"seen": {"message": KNOWN}}}
    )
    env = {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "MESHLAKE_SCHEMAS": str(FIXTURES)}
    return Runtime(Settings.load(project=MESH, env=env), domains=[Domain(spec=spec, transforms={})])


def _full(i: int) -> Any:
    m = Known(id=f"k{i:05}")
    m.at.FromMicroseconds(1_700_000_000_000_000 + i)
    m.took.FromTimedelta(timedelta(seconds=1, microseconds=500_000 + i))
    m.laps.add().FromTimedelta(timedelta(microseconds=-7))
    m.laps.add().FromTimedelta(timedelta(days=3))
    m.by_name["warmup"].FromTimedelta(timedelta(milliseconds=250))
    m.attributes.update({"colour": "red", "size": 3, "nested": {"ok": True, "none": None}, "list": [1, "a"]})
    m.value.string_value = f"v{i}"
    m.list.extend([1.5, "x", False, None])
    m.values.add().number_value = 2.0
    m.values.add().struct_value.update({"a": [1]})
    m.settings["mode"].string_value = "fast"
    m.any.type_url = "type.googleapis.com/meshlake.wellknown.v1.Nothing"
    m.any.value = b"\x00\xff"
    m.mask.paths.extend(["a.b", "c"])
    m.empty.SetInParent()
    m.pings.add()
    m.pings.add()
    m.nothing.SetInParent()
    m.w_double.value, m.w_float.value, m.w_int64.value = 0.25, 1.5, -(2**63)
    m.w_uint64.value, m.w_int32.value, m.w_uint32.value = TOP, -5, 2**32 - 1
    m.w_bool.value, m.w_string.value, m.w_bytes.value = True, "s", b"\x80"
    m.big, m.big_fixed, m.maybe_big = TOP, 2**63, 2**63 + i
    m.bigs.extend([0, 2**63, TOP])
    m.big_map[TOP] = 2**63
    m.stage = 1
    m.stages.extend([1, 2, 1])
    m.stage_by_name["now"] = 1
    return m


def _json(like: Any, text: str) -> Any:
    """`text` parsed as a message of the class of `like`."""
    return json_format.Parse(text, type(like)())


def _check_full(row: dict[str, Any], m: Any) -> None:
    assert row["took"] == 1_500_000 + int(m.id[1:])
    assert row["laps"] == [-7, 3 * 86_400_000_000]
    assert row["by_name"] == [("warmup", 250_000)]
    assert _json(m.attributes, row["attributes"]) == m.attributes  # the JSON text reads back as the message
    assert _json(m.value, row["value"]) == m.value
    assert _json(m.list, row["list"]) == m.list
    assert [_json(m.value, v) for v in row["values"]] == list(m.values)
    assert [(k, _json(m.value, v)) for k, v in row["settings"]] == [("mode", m.settings["mode"])]
    assert row["any"] == {"type_url": m.any.type_url, "value": b"\x00\xff"}
    assert row["mask"] == {"paths": ["a.b", "c"]}
    assert (row["empty"], row["pings"], row["nothing"]) == (True, [True, True], True)
    assert row["w_double"] == 0.25 and row["w_float"] == 1.5 and row["w_int64"] == -(2**63)
    assert row["w_uint64"] == TOP and row["w_int32"] == -5 and row["w_uint32"] == 2**32 - 1
    assert (row["w_bool"], row["w_string"], row["w_bytes"]) == (True, "s", b"\x80")
    assert (row["big"], row["big_fixed"], row["maybe_big"]) == (TOP, 2**63, m.maybe_big)
    assert row["bigs"] == [0, 2**63, TOP]
    assert row["big_map"] == [(TOP, 2**63)]
    assert row["stage"] == "STAGE_STARTED"  # the first name declared for 1, as protobuf's JSON writes it
    assert row["stages"] == ["STAGE_STARTED", "STAGE_DONE", "STAGE_STARTED"]
    assert row["stage_by_name"] == [("now", "STAGE_STARTED")]


def _check_empty(row: dict[str, Any]) -> None:
    for name in ("took", "attributes", "value", "list", "any", "mask", "empty", "nothing", "w_uint64", "maybe_big"):
        assert row[name] is None, name
    for name in ("laps", "by_name", "values", "settings", "pings", "bigs", "big_map", "stages", "stage_by_name"):
        assert row[name] == [], name
    assert (row["big"], row["big_fixed"], row["stage"]) == (0, 0, "STAGE_UNSPECIFIED")


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("n", [1, 200])
def test_well_known_types_unsigned_and_aliases_are_stored_losslessly(tmp_path: Path, fmt: str, n: int) -> None:
    runtime = _runtime(tmp_path / "home", fmt)
    full = [_full(i) for i in range(n)]
    empty = [Known(id=f"e{i:05}") for i in range(n)]
    write_landing_file(runtime.settings.landing_dir, "known", "seen", "f1", [m.SerializeToString() for m in full])
    write_landing_file(runtime.settings.landing_dir, "known", "seen", "f2", [m.SerializeToString() for m in empty])
    contract = runtime.contract("known", "seen")
    result = ingest_event(runtime.domain("known"), "seen", contract, runtime.landing, runtime, "run-1")
    assert (result.rows_written, result.quarantined) == (2 * n, 0)
    bronze = runtime.store_for("known", Layer.BRONZE).read(runtime.domain("known").bronze_table("seen"))
    rows = {r["id"]: r for r in bronze.to_pylist()}
    for m in full:
        _check_full(rows[m.id], m)
    for m in empty:
        _check_empty(rows[m.id])
