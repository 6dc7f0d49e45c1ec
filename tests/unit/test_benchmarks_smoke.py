"""The benchmark runs end to end on a few events and writes every result key (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main


@pytest.mark.slow
def test_quick_benchmark_writes_every_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"

    main(
        [
            "--events",
            "2000",
            "--suites",
            "ingest",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--cache",
            str(tmp_path / "cache"),
            "--repeats",
            "2",
        ]
    )

    results = json.loads(out.read_text())
    ingest = results["ingest"]
    for key in ("rows_per_s", "ratio_vs_parquet", "peak_rss_mb"):
        assert set(ingest[key]) == {"iceberg", "delta"}, key
        assert all(value > 0 for value in ingest[key].values()), key
    for fmt, samples in ingest["ratio_vs_parquet_samples"].items():
        assert len(samples) == 2 and ingest["ratio_vs_parquet"][fmt] == max(samples), fmt
    assert ingest["ratio_vs_protarrow"] > 0
    assert set(ingest["meets_targets"]) == {"ratio_vs_parquet", "peak_rss_mb"}
    for run in ingest["runs"].values():
        assert run["events"] == 2000
        assert run["rows_written"] + run["quarantined"] == 2000
    assert results["baseline"]["parquet"]["rows_per_s"] > 0
    assert results["decode"]["rows"] == 2000
    for key in ("rows_per_s", "reference_rows_per_s", "upb_parse_msgs_per_s", "protarrow_rows_per_s"):
        assert results["decode"][key] > 0, key
    assert "ingest -> iceberg" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_object_storage_benchmark_writes_every_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    args = ["--quick", "--events", "2000", "--suites", "s3", "--repeats", "1", "--out", str(out)]
    main([*args, "--workdir", str(tmp_path / "work"), "--cache", str(tmp_path / "cache")])

    s3 = json.loads(out.read_text())["s3"]
    for fmt in ("iceberg", "delta"):
        assert s3[f"s3.ingest_ratio_vs_local.{fmt}"] > 0 and s3[f"s3.query_ratio_vs_read_parquet.{fmt}"] > 0
        assert s3[f"s3.detail.ingest.{fmt}"]["events"] == 2000
    assert isinstance(s3["s3.meets_targets"], bool)
    assert "s3.ingest_ratio_vs_local.iceberg" in capsys.readouterr().out
