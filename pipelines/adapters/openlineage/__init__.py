"""OpenLineage adapter: run events of asset runs, sent with openlineage-python (the `lineage` extra) as it is
configured (`OPENLINEAGE_URL`, `openlineage.yml`); without configuration or without the extra, nothing is sent."""
