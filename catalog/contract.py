"""Export a data product as an Open Data Contract Standard (ODCS v3.1.0) YAML document."""

from __future__ import annotations

import re
from typing import Any

import yaml

from catalog.model import Column, Domain, Product

ODCS_API_VERSION = "v3.1.0"

_LOGICAL = [
    (re.compile(r"^(timestamp|datetime)"), "timestamp"),
    (re.compile(r"^date"), "date"),
    (re.compile(r"^time"), "time"),
    (re.compile(r"^(bool)"), "boolean"),
    (re.compile(r"^u?int|^(s|u)?fixed|^(s)?int|^long|^short|^byte$"), "integer"),
    (re.compile(r"^(float|double|decimal|halffloat|number|numeric|real)"), "number"),
    (re.compile(r"^(list|large_list|fixed_size_list|array|repeated)"), "array"),
    (re.compile(r"^(struct|map|message|object)"), "object"),
]


def logical_type(physical: str) -> str:
    """The ODCS logical type of a physical (Arrow or proto) type name; `string` when unknown."""
    text = physical.strip().lower()
    return next((logical for pattern, logical in _LOGICAL if pattern.search(text)), "string")


def _property(column: Column) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": column.name,
        "physicalName": column.name,
        "logicalType": logical_type(column.type),
        "physicalType": column.type,
        "required": not column.nullable,
    }
    if column.doc:
        prop["description"] = column.doc
    if column.pii:
        prop["classification"] = "restricted"
        prop["tags"] = ["pii"]
    return prop


def _server(product: Product) -> dict[str, Any]:
    location = product.location or f"meshlake://{product.name}"
    server: dict[str, Any] = {"server": "meshlake", "environment": "prod"}
    if location.startswith(("s3://", "s3a://")):
        server.update(type="s3", location=location, format=product.table_format)
    else:
        server.update(type="local", path=location, format=product.table_format)
    return server


def to_odcs(product: Product, domain: Domain) -> dict[str, Any]:
    """The ODCS v3 document of a product, as plain data ready to dump."""
    _, short = product.name.split(".", 1)
    document: dict[str, Any] = {
        "apiVersion": ODCS_API_VERSION,
        "kind": "DataContract",
        "id": product.name,
        "name": product.name,
        "version": product.contract_version,
        "status": product.status.value,
        "domain": product.domain,
        "dataProduct": product.name,
        "description": {
            "purpose": product.description or f"Data product {product.name}",
            "usage": f"Query as the DuckDB view {product.name} or scan it with Polars.",
        },
        "tags": list(product.tags),
        "schema": [
            {
                "name": short,
                "physicalName": product.name,
                "physicalType": "table",
                "logicalType": "object",
                "description": product.description or product.name,
                "properties": [_property(c) for c in product.columns],
            }
        ],
        "servers": [_server(product)],
        "team": {"name": product.owner, "description": f"Owner of domain {domain.name}"},
        "customProperties": [
            {"property": "upstreamProducts", "value": list(product.upstream)},
            {"property": "schemaHash", "value": product.schema_hash},
            {"property": "public", "value": product.public},
        ],
        "contractCreatedTs": product.created_at.isoformat(),
    }
    if domain.contact:
        document["support"] = [{"channel": domain.contact, "description": f"Contact of {domain.owner}"}]
    if product.freshness_sla_minutes is not None:
        sla = {"property": "freshness", "value": product.freshness_sla_minutes, "unit": "minutes"}
        document["slaProperties"] = [sla]
    return document


def to_yaml(product: Product, domain: Domain) -> str:
    """The ODCS v3 YAML text of a product."""
    return yaml.safe_dump(to_odcs(product, domain), sort_keys=False, allow_unicode=True)
