"""Event options that do not fit their message are found before anything runs, one line each with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.adapters.protobuf import CompiledSchemas, compile_schemas
from pipelines.core.event_option_rules import event_option_problems

FIXTURES = Path(__file__).parents[1] / "fixtures" / "options"  # not under fixtures/proto: imports options.proto
PACKAGE = "meshlake.badoptions.v1"


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> CompiledSchemas:
    root = tmp_path_factory.mktemp("schemas")
    shutil.copytree(FIXTURES / "badoptions", root / "badoptions")  # meshlake/options.proto: from the package
    return compile_schemas(root)


def _problems(schemas: CompiledSchemas, message: str) -> list[str]:
    name = f"{PACKAGE}.{message}"
    return event_option_problems(schemas.descriptor(name), schemas.event_options(name), schemas.descriptor_set)


def test_options_that_fit_have_no_problem(bad: CompiledSchemas) -> None:
    assert _problems(bad, "Fine") == []


@pytest.mark.parametrize(
    ("message", "line", "expected"),
    [
        ("MissingField", 21, "(meshlake.event).event_id: names 'idd', which is not a field of the message"),
        ("RepeatedKey", 26, "(meshlake.event).entity_key: keys is repeated; a key holds one value"),
        ("MessageKey", 31, "(meshlake.event).entity_key: part is a meshlake.badoptions.v1.Part; a key is a string"),
        ("TimeNotTimestamp", 36, "(meshlake.event).event_time: at is int64; it must be a google.protobuf.Timestamp"),
        ("PartitionOnMissingColumn", 41, "(meshlake.event).partition: 'day(placed_at)' names 'placed_at'"),
    ],
)
def test_each_wrong_option_is_one_line_naming_file_line_message_and_rule(
    bad: CompiledSchemas, message: str, line: int, expected: str
) -> None:
    [problem] = _problems(bad, message)
    assert problem.startswith(f"badoptions/v1/bad.proto:{line}: {PACKAGE}.{message}: {expected}"), problem
    assert "\n" not in problem


def test_a_contract_is_refused_when_its_options_do_not_fit(bad: CompiledSchemas) -> None:
    from pipelines.bootstrap import contract_from_schemas
    from pipelines.core.event_option_rules import EventOptionsError

    with pytest.raises(EventOptionsError, match=r"bad\.proto:36: .*event_time: at is int64"):
        contract_from_schemas(bad, f"{PACKAGE}.TimeNotTimestamp")
    assert contract_from_schemas(bad, f"{PACKAGE}.Fine").entity_key == "key"
