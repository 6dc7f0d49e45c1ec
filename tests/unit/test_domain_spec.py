"""Domain specs are validated; errors name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.project import SpecError, load_domain, load_domains
from tests.paths import MESH, REPO


def _write(tmp_path: Path, text: str, name: str = "orders") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "domain.yaml").write_text(text)
    return folder


VALID = """
name: orders
owner: team-orders
schemas: orders/v1
events:
  order_placed: {message: meshlake.orders.v1.OrderPlaced}
"""


def test_project_domains_load() -> None:
    domains = load_domains(MESH / "domains")
    assert "orders" in {d.name for d in domains}
    orders = next(d for d in domains if d.name == "orders")
    assert callable(orders.transforms["daily_revenue"])
    assert orders.generator is not None


def test_minimal_spec_loads(tmp_path: Path) -> None:
    domain = load_domain(_write(tmp_path, VALID), package="domains.orders")
    assert domain.spec.owner == "team-orders"
    assert domain.spec.formats.bronze.value == "iceberg"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (VALID.replace("owner: team-orders\n", ""), "domain.yaml: owner: Field required"),
        (VALID + "colour: blue\n", "domain.yaml:7: colour: Extra inputs are not permitted"),
        (
            VALID.replace("schemas: orders/v1", "schemas: orders/v1\nformats: {gold: parquet}"),
            "domain.yaml:5: formats.gold",
        ),
        (
            VALID + "entities:\n  orders: {events: [order_shipped], transform: silver_orders}\n",
            "domain.yaml:8: entities.orders.events: unknown event 'order_shipped'",
        ),
        (
            VALID + "products:\n  p: {description: d, inputs: [bronze.order_placed], transform: daily_revenue}\n",
            "products.p.inputs",
        ),
    ],
)
def test_invalid_spec_names_file_and_key(tmp_path: Path, change: str, expected: str) -> None:
    with pytest.raises(SpecError) as err:
        load_domain(_write(tmp_path, change), package="domains.orders")
    assert expected in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_transform_that_does_not_exist_is_named(tmp_path: Path) -> None:
    text = VALID + "entities:\n  orders: {events: [order_placed], transform: no_such_function}\n"
    with pytest.raises(SpecError, match=r"entities\.orders\.transform: no function 'no_such_function'"):
        load_domain(_write(tmp_path, text), package="domains.orders")


def test_broken_yaml_is_reported_with_its_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_domain(_write(tmp_path, "name: [orders\n"), package="domains.orders")


def test_folder_and_name_must_agree(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="differs from its folder"):
        load_domain(_write(tmp_path, VALID, name="sales"), package="domains.orders")


def test_the_repository_is_a_project_of_the_sample_domains() -> None:
    from pipelines.settings import Settings

    settings = Settings.load(cwd=REPO / "pipelines", env={})
    assert settings.project == REPO
    assert settings.domains_dir == REPO / "domains"
