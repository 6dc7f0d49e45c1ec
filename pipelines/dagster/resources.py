"""The Dagster resource that builds meshlake's runtime (adapters) from configuration."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import PrivateAttr

from pipelines.bootstrap import Runtime
from pipelines.settings import Settings


class MeshlakeResource(dg.ConfigurableResource):
    """meshlake's home and overrides; gives assets the runtime with every adapter built.

    Every field but `catalog_web_url` is a `MESHLAKE_*` setting (see `Settings`). `catalog_web_url`
    (`MESHLAKE_CATALOG_WEB_URL`) is where people browse the catalog, for the product-page link on gold
    materialisations; it defaults to `catalog_url`. `meshlake dev` sets it to the catalog it serves,
    while products register in the same catalog database directly (no token needed).
    """

    home: str
    format: str | None = None
    iceberg_catalog_uri: str | None = None
    catalog_url: str | None = None
    catalog_token: str | None = None
    catalog_db: str | None = None
    catalog_web_url: str | None = None
    nats_url: str | None = None

    _runtime: Runtime | None = PrivateAttr(default=None)

    def runtime(self) -> Runtime:
        """The runtime on this configuration, built once per resource instance."""
        if self._runtime is None:
            env = {"MESHLAKE_HOME": self.home}
            optional = {
                "MESHLAKE_FORMAT": self.format,
                "MESHLAKE_ICEBERG_CATALOG_URI": self.iceberg_catalog_uri,
                "MESHLAKE_CATALOG_URL": self.catalog_url,
                "MESHLAKE_CATALOG_TOKEN": self.catalog_token,
                "MESHLAKE_CATALOG_DB": self.catalog_db,
                "MESHLAKE_NATS_URL": self.nats_url,
            }
            env |= {k: v for k, v in optional.items() if v}
            self._runtime = Runtime(Settings.from_env(env))
        return self._runtime


_OPTIONAL = {
    "format": "MESHLAKE_FORMAT",
    "iceberg_catalog_uri": "MESHLAKE_ICEBERG_CATALOG_URI",
    "catalog_url": "MESHLAKE_CATALOG_URL",
    "catalog_token": "MESHLAKE_CATALOG_TOKEN",
    "catalog_db": "MESHLAKE_CATALOG_DB",
    "catalog_web_url": "MESHLAKE_CATALOG_WEB_URL",
    "nats_url": "MESHLAKE_NATS_URL",
}


def meshlake_resource_from_env() -> MeshlakeResource:
    """The resource configured by `MESHLAKE_*` environment variables, resolved when a run starts.

    Optional variables are referenced only when set where the definitions load: Dagster refuses
    a run whose `EnvVar` is unset.
    """
    optional = {field: dg.EnvVar(var) for field, var in _OPTIONAL.items() if os.environ.get(var)}
    return MeshlakeResource(home=dg.EnvVar("MESHLAKE_HOME"), **optional)
