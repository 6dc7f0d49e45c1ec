"""A one-domain project for write-audit-publish tests: item balances whose contract says none is negative.

`ledger.balances` holds each item's latest amount (silver keeps the newest event per item); its
contract has an error check (`amount` at least 0) and a warn check (`amount` at most 1000);
`ledger.total` sums them (a product built from a product). Tests land events with the amounts they
want and materialise the domain with Dagster.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import dagster as dg

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.dagster.code_location import build_definitions
from pipelines.dagster.resources import MeshlakeResource
from pipelines.settings import Settings
from tests.fixture_projects import add_domain, make_project, write

SPEC = """\
entities:
  items:
    events: {happened: conform}
products:
  balances:
    description: Each item's latest amount.
    inputs: [silver.items]
    transform: balances
    key: [item_id]
    expectations:
      - {type: range, column: amount, min: 0}
      - {type: range, column: amount, max: 1000, severity: warn, name: amount_within_limit}
  total:
    description: The sum of the balances (a product built from a product).
    inputs: [ledger.balances]
    transform: total
"""

TRANSFORMS = """\
import polars as pl


def conform(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("item_id", "at", "amount")


def balances(items: pl.DataFrame) -> pl.DataFrame:
    return items.select("item_id", "amount").sort("item_id")


def total(balances: pl.DataFrame) -> pl.DataFrame:
    return balances.select(pl.col("amount").sum())
"""

GOLD = dg.AssetKey(["ledger", "gold", "balances"])
TOTAL = dg.AssetKey(["ledger", "gold", "total"])
_SEQUENCE = count()


def make_ledger(root: Path, fmt: str, spec_extra: str = "") -> Settings:
    """The project at `root` with every table in `fmt` (`spec_extra`: more of the domain's spec); its settings
    (home under `root`)."""
    make_project(root, settings=f"format: {fmt}\n")
    folder = add_domain(root, "ledger", SPEC + spec_extra)
    write(folder / "transforms.py", TRANSFORMS)
    return Settings.load(project=root, env={"MESHLAKE_HOME": str(root / "home")})


def land(runtime: Runtime, amounts: dict[str, int]) -> None:
    """One landing file with an event per item, setting its amount (later events win)."""
    message = runtime.domain_schemas("ledger").message_class("team.ledger.v1.Happened")
    payloads = []
    for item, amount in amounts.items():
        n = next(_SEQUENCE)
        event = message(event_id=f"e{n}", item_id=item, amount=amount)
        event.at.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC).replace(second=n % 60, minute=n // 60 % 60))
        payloads.append(event.SerializeToString())
    write_landing_file(runtime.landing.location, "ledger", "happened", f"batch-{n:06d}", payloads)


def materialize(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Run every asset of the ledger domain, bronze to gold, once."""
    defs = build_definitions(settings)
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resource = MeshlakeResource(project=str(settings.project_dir), home=str(settings.home))
    return dg.materialize(
        assets, resources={"meshlake": resource}, instance=instance, selection="group:ledger", raise_on_error=False
    )
