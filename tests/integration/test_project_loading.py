"""A project's domains load from its folder by path: no importable package, no collision between two projects
in one process, relative imports work, and a domain that fails to load is left out with one line naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from pipelines.bootstrap import Runtime
from pipelines.dagster.code_location import build_definitions
from pipelines.project import Project
from pipelines.settings import Settings
from tests.fixture_projects import add_domain, make_project, write

GENERATOR = """\
from .rules import scale
from ..shared import ORIGIN


def generate(count, seed):
    for i in range(count):
        yield "happened", {"item_id": f"{ORIGIN}-{scale(i)}"}
"""

TRANSFORMS_SPEC = """\
entities:
  items:
    events: {happened: conform}
products:
  totals:
    description: Items per day.
    inputs: [silver.items]
    transform: totals
"""

TRANSFORMS = """\
import polars as pl


def conform(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("item_id", "amount")


def totals(items: pl.DataFrame) -> pl.DataFrame:
    return items.group_by("item_id").len()
"""


def project_with_generator(root: Path, origin: str, factor: int) -> Path:
    make_project(root)
    folder = add_domain(root, "sales", "generator: generate\n")
    write(root / "domains" / "shared.py", f"ORIGIN = {origin!r}\n")
    write(folder / "rules.py", f"def scale(i):\n    return i * {factor}\n")
    write(folder / "generator.py", GENERATOR)
    return root


def test_a_project_needs_no_importable_package_and_relative_imports_work(tmp_path: Path) -> None:
    root = project_with_generator(tmp_path / "team", "shop", 10)

    project = Project.load(root)

    assert project.problems == []
    sales = project.domains["sales"]
    assert sales.generator is not None
    assert list(sales.generator(2, seed=1)) == [
        ("happened", {"item_id": "shop-0"}),
        ("happened", {"item_id": "shop-10"}),
    ]
    assert "domains" not in sys.modules or not hasattr(sys.modules["domains"], "shared")


def test_two_projects_with_a_domain_of_the_same_name_load_side_by_side(tmp_path: Path) -> None:
    first = Project.load(project_with_generator(tmp_path / "first", "north", 1))
    second = Project.load(project_with_generator(tmp_path / "second", "south", 2))

    one, two = first.domains["sales"].generator, second.domains["sales"].generator
    assert one is not None and two is not None
    assert one.__module__ != two.__module__
    assert next(iter(one(2, seed=0)))[1]["item_id"] == "north-0"
    assert list(two(2, seed=0))[1][1]["item_id"] == "south-2"
    assert list(one(2, seed=0))[1][1]["item_id"] == "north-1"  # still its own project's modules


def test_a_domain_that_fails_to_import_is_left_out_and_named_with_its_file_and_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team")
    add_domain(root, "good")
    broken = add_domain(root, "broken", "generator: generate\n")
    write(broken / "generator.py", "import polars as pl\n\n\ndef generate(count, seed):\n    return nope(\n")

    project = Project.load(root)

    assert list(project.domains) == ["good"]
    [problem] = project.problems
    assert problem.domain == "broken"
    assert str(problem).startswith(f"{broken / 'generator.py'}:5: SyntaxError")


def test_a_spec_error_or_a_missing_function_names_the_domain_file_and_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team")
    add_domain(root, "good")
    add_domain(root, "typo", "colour: blue\n")
    add_domain(root, "nofunc", TRANSFORMS_SPEC)
    write(root / "domains" / "nofunc" / "transforms.py", "def conform(rows):\n    return rows\n")

    project = Project.load(root)

    assert list(project.domains) == ["good"]
    lines = sorted(str(p) for p in project.problems)
    assert lines == [
        f"{root / 'domains' / 'nofunc' / 'domain.yaml'}:13: products.totals.transform: no function 'totals' in "
        "transforms.py",
        f"{root / 'domains' / 'typo' / 'domain.yaml'}:6: colour: Extra inputs are not permitted",
    ]


def test_two_row_count_expectations_are_one_line_naming_the_product(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team")
    add_domain(root, "good")
    twice = "    expectations:\n      - {type: row_count, min: 1}\n      - {type: row_count, max: 10}\n"
    folder = add_domain(root, "counted", TRANSFORMS_SPEC + twice)
    write(folder / "transforms.py", TRANSFORMS)

    project = Project.load(root)

    assert list(project.domains) == ["good"]
    [problem] = project.problems
    assert "\n" not in str(problem)
    assert str(problem) == (
        f"{folder / 'domain.yaml'}:14: products.totals.expectations: two checks named 'row_count': "
        "give one a distinct `name`"
    )


def test_a_domain_whose_proto_does_not_compile_is_left_out_of_the_definitions_and_shown(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team")
    add_domain(root, "good")
    add_domain(root, "badproto")
    proto = root / "schemas" / "badproto" / "v1" / "badproto.proto"
    proto.write_text(proto.read_text().replace("int64 amount = 4;", "int64 amount = 4"))
    settings = Settings.load(project=root, env={})

    defs = build_definitions(settings)

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "good/bronze/happened" in keys
    assert not any(k.startswith("badproto/bronze") for k in keys)
    error = graph.get(dg.AssetKey(["badproto", "load_error"]))
    assert not error.is_materializable
    assert "badproto.proto:" in (error.description or "") and "Expected" in (error.description or "")
    runtime = Runtime(settings)  # a run's runtime: the good domain's contract still compiles
    assert runtime.contract("good", "happened").message == "team.good.v1.Happened"


def test_column_lineage_from_an_input_the_transform_does_not_take_leaves_the_domain_out(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team")
    folder = add_domain(root, "declared", TRANSFORMS_SPEC)
    write(
        folder / "transforms.py",
        "from pipelines.core.lineage import derives\n"
        + TRANSFORMS.replace("def totals(", '@derives(len="orders.item_id")\ndef totals('),
    )

    project = Project.load(root)

    assert list(project.domains) == []
    [problem] = project.problems
    assert str(problem) == (
        f"{folder / 'domain.yaml'}:13: products.totals.transform: totals declares column lineage from 'orders', "
        "which is none of its parameters"
    )
