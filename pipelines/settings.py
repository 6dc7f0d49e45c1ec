"""Runtime settings from the environment: where meshlake keeps its data and which servers it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.commits import TableFormat
from pipelines.project import PROJECT_DIR


class SettingsError(Exception):
    """A required setting is missing or invalid; the message names the variable."""


def schemas_dir_from_env(env: dict[str, str] | None = None) -> Path:
    """`MESHLAKE_SCHEMAS`, or the project's schemas/ folder."""
    value = (os.environ if env is None else env).get("MESHLAKE_SCHEMAS")
    return Path(value) if value else PROJECT_DIR / "schemas"


@dataclass(frozen=True)
class Settings:
    """Where meshlake keeps everything, and what overrides the domain specs.

    Attributes:
        home: `MESHLAKE_HOME`, the one directory of the embedded default (landing files, tables,
            SQLite catalogs, Dagster storage).
        format_override: `MESHLAKE_FORMAT`, when set every table of every domain uses this format.
        iceberg_catalog_uri: `MESHLAKE_ICEBERG_CATALOG_URI`, the pyiceberg SQL catalog (default SQLite
            under home; PostgreSQL in production).
        catalog_url: `MESHLAKE_CATALOG_URL`, the catalog service; unset means the embedded catalog.
        catalog_token: `MESHLAKE_CATALOG_TOKEN`, the bearer token for the catalog service.
        catalog_db: `MESHLAKE_CATALOG_DB`, the embedded catalog's database URL (default SQLite under home).
        schemas_dir: `MESHLAKE_SCHEMAS`, the folder of .proto files (default: the project's schemas/).
        nats_url: `MESHLAKE_NATS_URL`, the NATS JetStream server bronze also reads from; unset means
            landing files only.
    """

    home: Path
    format_override: TableFormat | None = None
    iceberg_catalog_uri: str | None = None
    catalog_url: str | None = None
    catalog_token: str | None = None
    catalog_db: str | None = None
    schemas_dir: Path = PROJECT_DIR / "schemas"
    nats_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from environment variables.

        Raises:
            SettingsError: `MESHLAKE_HOME` is unset or empty, or `MESHLAKE_FORMAT` is unknown.
        """
        env = dict(os.environ) if env is None else env
        home = env.get("MESHLAKE_HOME", "").strip()
        if not home:
            raise SettingsError(
                "MESHLAKE_HOME is not set: point it at the directory meshlake keeps its data in "
                "(e.g. export MESHLAKE_HOME=$PWD/.meshlake)"
            )
        fmt = env.get("MESHLAKE_FORMAT", "").strip() or None
        try:
            override = TableFormat(fmt) if fmt else None
        except ValueError:
            known = ", ".join(f.value for f in TableFormat)
            raise SettingsError(f"MESHLAKE_FORMAT={fmt!r} is not a table format ({known})") from None
        return cls(
            home=Path(home).expanduser().resolve(),
            format_override=override,
            iceberg_catalog_uri=env.get("MESHLAKE_ICEBERG_CATALOG_URI") or None,
            catalog_url=env.get("MESHLAKE_CATALOG_URL") or None,
            catalog_token=env.get("MESHLAKE_CATALOG_TOKEN") or None,
            catalog_db=env.get("MESHLAKE_CATALOG_DB") or None,
            schemas_dir=schemas_dir_from_env(env),
            nats_url=env.get("MESHLAKE_NATS_URL") or None,
        )

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def iceberg_dir(self) -> Path:
        return self.home / "iceberg"

    @property
    def delta_dir(self) -> Path:
        return self.home / "delta"

    @property
    def catalog_db_url(self) -> str:
        return self.catalog_db or f"sqlite:///{self.home / 'catalog' / 'catalog.db'}"
