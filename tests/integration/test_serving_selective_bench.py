"""The selective query benchmark runs end to end on a small table and reports every figure it promises."""

from __future__ import annotations

from pathlib import Path

from benchmarks.query_selective import COMMITS, DAYS, FORMATS, QUERIES, measure


def test_selective_benchmark_reports_every_key(tmp_path: Path) -> None:
    results = measure(tmp_path, rows=DAYS * COMMITS * 2, reps=1)
    for fmt in FORMATS:
        assert results[f"query.selective_ratio_vs_native.{fmt}"] > 0
        detail = results[f"query.detail.selective.{fmt}"]
        assert detail["files"] == DAYS * COMMITS
        for name in QUERIES:
            assert results[f"query.selective_ratio_vs_native_cold.{fmt}.{name}"] > 0
            assert detail[name]["files_read_ours"] == detail[name]["files_read_native"]
            assert detail[name]["files_read_ours"] < DAYS
