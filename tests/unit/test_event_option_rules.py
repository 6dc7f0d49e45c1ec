"""Event options that do not fit their message are found before anything runs, one line each with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.adapters.protobuf import CompiledSchemas, compile_schemas
from pipelines.core.event_option_rules import event_option_problems

FIXTURES = Path(__file__).parents[1] / "fixtures" / "options"  # not under fixtures/proto: the tests compiling
PACKAGE = "meshlake.badoptions.v1"  # that whole root look up messages there, and these ones are refused


@pytest.fixture(scope="module")
def bad() -> CompiledSchemas:
    return compile_schemas(FIXTURES)


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


def test_a_domain_whose_options_do_not_fit_is_left_out_with_file_and_line_and_the_others_load(tmp_path: Path) -> None:
    """Options are checked when the domains load (before anything runs); one wrong domain stops only itself."""
    from pipelines.bootstrap import Runtime
    from pipelines.settings import Settings

    project = tmp_path / "project"
    (project / "schemas").mkdir(parents=True)
    (project / "meshlake.yaml").write_text("schemas: [schemas]\n")
    shutil.copytree(FIXTURES / "badoptions", project / "schemas" / "badoptions")
    for name, message in (("fine", "Fine"), ("wrong", "TimeNotTimestamp")):
        (project / "domains" / name).mkdir(parents=True)
        (project / "domains" / name / "domain.yaml").write_text(
            f"name: {name}\nowner: team\nschemas: badoptions/v1\nevents: {{seen: {{message: {PACKAGE}.{message}}}}}\n"
        )
    runtime = Runtime(Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home")}))

    [problem] = runtime.drop_unusable()

    assert sorted(runtime.domains) == ["fine"]
    assert problem.domain == "wrong"
    assert "badoptions/v1/bad.proto:36: meshlake.badoptions.v1.TimeNotTimestamp: (meshlake.event).event_time" in str(
        problem
    )
