"""Every gold materialisation registers the product and its version in the catalog, idempotently."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from catalog.model import Principal, PrincipalKind
from catalog.service import CatalogService
from pipelines.bootstrap import Runtime
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing


def test_gold_materialisation_registers_product_and_version(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("iceberg")
    generate_landing(runtime, "orders", 1_000, seed=5, files=1)
    defs = build_definitions()
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resource = MeshlakeResource(home=str(runtime.settings.home))
    instance = dg.DagsterInstance.ephemeral()
    gold = dg.AssetKey(["orders", "gold", "daily_revenue"])
    first = dg.materialize(assets, resources={"meshlake": resource}, instance=instance, selection="group:orders")
    assert first.success
    again = dg.materialize(assets, resources={"meshlake": resource}, instance=instance, selection=[gold])
    assert again.success

    service = CatalogService.open(runtime.settings.catalog_db_url)
    admin = Principal(name="admin", kind=PrincipalKind.ADMIN)
    detail = service.get_product(admin, "orders.daily_revenue")
    assert detail.owner == "team-orders"
    assert {c.name for c in detail.columns} >= {"day", "country", "revenue", "orders", "customers"}
    versions = service.list_versions(admin, "orders.daily_revenue")
    # the second run rewrote gold (a new snapshot) from the same silver: two versions, same row count
    assert len(versions) == 2
    assert len({v.row_count for v in versions}) == 1
    metas = [
        e.materialization.metadata
        for e in again.get_asset_materialization_events()
        if e.materialization.asset_key == gold
    ]
    assert metas[0]["catalog_new_version"].value is True
    # the contract checks of the run reached the catalog: its quality status follows them
    expected = {c.name for c in defs.resolve_asset_graph().asset_check_keys if c.asset_key == gold}
    assert {c.check for c in detail.checks} == expected
    assert all(c.passed for c in detail.checks), detail.checks
    # each check's message is the expectation as text, its thresholds as numbers
    messages = {c.check: c.message for c in detail.checks}
    assert not [m for m in messages.values() if "MetadataValue" in m or "None" in m or "inf" in m], messages
    assert detail.quality == "passing"


def test_grants_in_the_spec_reach_the_catalog(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("iceberg")
    generate_landing(runtime, "orders", 500, seed=5, files=1)
    defs = build_definitions()
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resource = MeshlakeResource(home=str(runtime.settings.home))
    assert dg.materialize(
        assets, resources={"meshlake": resource}, instance=dg.DagsterInstance.ephemeral(), selection="group:orders"
    ).success
    service = CatalogService.open(runtime.settings.catalog_db_url)
    orders = runtime.domain("orders").spec
    granted = {p: s.grants for p, s in orders.products.items() if s.grants and not s.public}
    assert granted, "the orders domain grants at least one private product"
    for product, consumers in granted.items():
        for consumer in consumers:
            reader = Principal(name=consumer, kind=PrincipalKind.DOMAIN)
            assert f"orders.{product}" in service.readable_products(reader)
