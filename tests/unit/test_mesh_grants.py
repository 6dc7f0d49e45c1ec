"""The mesh's rules: a product reads another domain only through a published product granted to it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.spec import DomainSpec, mesh_problems, published_to
from pipelines.project import load_domains
from pipelines.services.build import InputNotAllowedError, build_product
from tests.paths import MESH


def _specs() -> dict[str, DomainSpec]:
    return {d.name: d.spec for d in load_domains(MESH / "domains")}


def _with_product(spec: DomainSpec, product: str, **changes: object) -> DomainSpec:
    products = dict(spec.products)
    products[product] = products[product].model_copy(update=changes)
    return spec.model_copy(update={"products": products})


def test_the_sample_mesh_keeps_its_rules_and_grants_say_who_reads_what() -> None:
    specs = _specs()
    assert mesh_problems(specs.values()) == []
    assert "orders.order_facts" in published_to("shipping", specs.values())
    assert "shipping.deliveries" not in published_to("orders", specs.values())  # not granted to anyone
    assert "orders.daily_revenue" in published_to("payments", specs.values())  # public


def test_an_input_not_granted_to_the_reading_domain_is_named_with_the_fix() -> None:
    specs = _specs()
    specs["orders"] = _with_product(specs["orders"], "order_facts", grants=["payments"])
    problems = mesh_problems(specs.values())
    assert [p.split(": ")[:2] for p in problems] == [
        ["shipping.deliveries", "expectations"],  # its referential-integrity check reads order_facts too
        ["shipping.order_fulfilment", "inputs"],
    ]
    assert all("orders.order_facts is not granted to shipping" in p and "grants" in p for p in problems)


def test_another_domains_silver_is_never_readable() -> None:
    specs = _specs()
    specs["shipping"] = _with_product(
        specs["shipping"], "order_fulfilment", inputs=["orders.silver_orders", "shipping.deliveries"]
    )
    [problem] = mesh_problems(specs.values())
    assert "orders.silver_orders" in problem and "another domain's silver is never readable" in problem


def test_the_build_refuses_an_input_that_is_not_published_to_it(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("memory")
    with pytest.raises(InputNotAllowedError, match=r"shipping\.order_fulfilment reads 'orders\.order_facts'"):
        build_product(runtime.domain("shipping"), "order_fulfilment", runtime, "run-1", published=frozenset())
