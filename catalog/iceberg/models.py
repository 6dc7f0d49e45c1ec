"""Request and response bodies of the Iceberg REST Catalog API: pyiceberg's models where they match the spec.

Where pyiceberg's client-side models are stricter than the OpenAPI spec (a create request without
`location`, a register request without `overwrite`, a table commit without `identifier`), the server
accepts what the spec allows with its own small models built from pyiceberg's parts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pyiceberg.catalog.rest import (
    ListNamespaceResponse,
    ListTablesResponse,
    NamespaceResponse,
    TableResponse,
)
from pyiceberg.catalog.rest.response import ErrorResponse, ErrorResponseMessage, OAuthErrorResponse, TokenResponse
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import CommitTableRequest, CommitTableResponse, TableIdentifier
from pyiceberg.table.sorting import SortOrder
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.typedef import IcebergBaseModel

__all__ = [
    "CommitTableRequest",
    "CommitTableResponse",
    "CommitTransactionRequest",
    "ConfigOut",
    "CreateNamespaceRequest",
    "CreateTableRequest",
    "ErrorResponse",
    "ErrorResponseMessage",
    "ListNamespaceResponse",
    "ListTablesResponse",
    "NamespaceResponse",
    "OAuthErrorResponse",
    "RegisterTableRequest",
    "TableResponse",
    "TokenResponse",
    "UpdateTableRequest",
]


class ConfigOut(BaseModel):
    """`GET /v1/config`: client defaults, overrides and the endpoints this server implements."""

    defaults: dict[str, str] = Field(default_factory=dict)
    overrides: dict[str, str] = Field(default_factory=dict)
    endpoints: list[str] = Field(default_factory=list)


class CreateNamespaceRequest(IcebergBaseModel):
    namespace: list[str] = Field(min_length=1)
    properties: dict[str, str] = Field(default_factory=dict)


class CreateTableRequest(IcebergBaseModel):
    """The spec's CreateTableRequest (pyiceberg's own requires `location` and `write-order`)."""

    name: str = Field(min_length=1)
    location: str | None = None
    table_schema: Schema = Field(alias="schema")
    partition_spec: PartitionSpec | None = Field(default=None, alias="partition-spec")
    write_order: SortOrder | None = Field(default=None, alias="write-order")
    stage_create: bool = Field(default=False, alias="stage-create")
    properties: dict[str, str] = Field(default_factory=dict)


class RegisterTableRequest(IcebergBaseModel):
    name: str = Field(min_length=1)
    metadata_location: str = Field(alias="metadata-location", min_length=1)
    overwrite: bool = False


class UpdateTableRequest(IcebergBaseModel):
    """The spec's CommitTableRequest on a table's own path, where `identifier` may be left out."""

    model_config = ConfigDict(title="CommitTableRequest")

    identifier: TableIdentifier | None = None
    requirements: tuple[TableRequirement, ...] = Field(default_factory=tuple)
    updates: tuple[TableUpdate, ...] = Field(default_factory=tuple)


class CommitTransactionRequest(IcebergBaseModel):
    table_changes: list[CommitTableRequest] = Field(alias="table-changes", min_length=1)
