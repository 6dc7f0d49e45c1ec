"""Which engine computes a product: the product's own `engine`, else the `engine` setting (default embedded)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.engine import EngineName, is_portable
from pipelines.settings import Settings, SettingsError
from tests.paths import MESH


def _runtime(tmp_path: Path, **env: str) -> Runtime:
    return Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path)} | env))


def test_the_default_is_embedded_and_the_environment_chooses_spark(tmp_path: Path) -> None:
    assert _runtime(tmp_path).engine_name("orders", "daily_revenue") is EngineName.EMBEDDED
    assert _runtime(tmp_path).engine_for("orders", "daily_revenue") is None
    spark = _runtime(tmp_path, MESHLAKE_ENGINE="spark", MESHLAKE_SPARK_URL="sc://127.0.0.1:1")
    assert spark.engine_name("orders", "daily_revenue") is EngineName.SPARK
    assert spark.settings.source("engine").where == "MESHLAKE_ENGINE"


def test_an_unknown_engine_names_the_setting_and_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"MESHLAKE_ENGINE='flink': not an engine \(embedded, spark\)"):
        Settings.load(project=MESH, env={"MESHLAKE_ENGINE": "flink"})


def test_a_product_s_own_engine_comes_before_the_setting(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, MESHLAKE_ENGINE="spark")
    domain = runtime.domain("orders")
    product = domain.spec.products["order_facts"].model_copy(update={"engine": EngineName.EMBEDDED})
    spec = domain.spec.model_copy(update={"products": domain.spec.products | {"order_facts": product}})
    runtime.domains["orders"] = dataclasses.replace(domain, spec=spec)
    assert runtime.engine_for("orders", "order_facts") is None
    assert runtime.engine_name("orders", "daily_revenue") is EngineName.SPARK


def test_a_portable_transform_takes_and_returns_polars_frames_embedded(tmp_path: Path) -> None:
    domain = _runtime(tmp_path).domain("payments")
    settle = domain.transforms["settlement_summary"]
    assert is_portable(settle)
    assert not is_portable(_runtime(tmp_path).domain("shipping").transforms["finish_shipments"])
    payments = pl.DataFrame(
        {"captured_at": [None], "captured_currency": ["EUR"], "captured_amount": [None]},
        schema={"captured_at": pl.Datetime("us", "UTC"), "captured_currency": pl.String,
                "captured_amount": pl.Decimal(18, 2)},
    )  # fmt: skip
    refunds = pl.DataFrame(
        {"refunded_at": [None], "currency": ["EUR"], "amount": [None]},
        schema={"refunded_at": pl.Datetime("us", "UTC"), "currency": pl.String, "amount": pl.Decimal(18, 2)},
    )
    assert isinstance(settle(payments, refunds), pl.DataFrame)
