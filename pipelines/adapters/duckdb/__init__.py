"""DuckDB serving: data products as views `<domain>.<product>`."""
