"""The query benchmark runs end to end on a small table (numbers are not checked, only that they are there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.query_http import http_p50_ms
from benchmarks.query_ratio import measure


@pytest.mark.slow
def test_query_benchmark_reports_every_key(tmp_path: Path) -> None:
    results = measure(tmp_path / "ratio", {"1m": 20_000}, {"1m": 1}, detail_reps=1)
    for fmt in ("iceberg", "delta"):
        assert results[f"query.ratio_vs_parquet.{fmt}.1m"] > 0
        assert results[f"query.ratio_vs_parquet_warm.{fmt}.1m"] > 0
        detail = results[f"query.detail.{fmt}.1m"]
        assert {"cold", "warm", "where_time_goes", "warm_native", "setup_ms", "sorted_by_day_country"} <= set(detail)
        steps = detail["where_time_goes"]
        assert {"plan", "connect", "check_sql", "view_and_lock", "query", "close"} <= set(steps["ours_ms"])
        assert steps["ours_profile"]["aggregate_cpu_ms"] > 0 and steps["parquet_profile"]["scan_cpu_ms"] > 0
    latencies = http_p50_ms(tmp_path / "http", requests=3)
    assert set(latencies) == {f"query.http{c}_p{q}_ms" for c in ("", "_cached") for q in (50, 90)}
    assert all(ms > 0 for ms in latencies.values())
