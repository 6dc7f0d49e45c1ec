"""Benchmarks of bronze ingestion (`make bench` = `python -m benchmarks`); results go to `benchmarks/results.json`."""
