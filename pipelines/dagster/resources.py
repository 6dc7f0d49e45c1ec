"""The Dagster resource that builds meshlake's runtime (adapters) from the settings."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from pipelines import logs
from pipelines.bootstrap import Runtime
from pipelines.settings import Settings


class MeshlakeResource(dg.ConfigurableResource):
    """Gives assets the runtime with every adapter built, on `Settings.load()`.

    The settings come from where the CLI's come from: the project file, then `MESHLAKE_*`, then the
    fields set here, which act as flags (None: not given). The code location sets `project` and
    `home`, so the Dagster UI shows which project and home a run uses; secrets (the catalog token)
    are never fields (the catalog token, S3 credentials): they come from the environment or the project
    file when the run starts.
    """

    project: str | None = None
    home: str | None = None
    format: str | None = None
    iceberg_catalog_uri: str | None = None
    iceberg_catalog: str | None = None
    catalog_url: str | None = None
    catalog_db: str | None = None
    catalog_web_url: str | None = None
    nats_url: str | None = None
    warehouse: str | None = None
    landing: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_path_style: bool | None = None
    engine: str | None = None
    spark_url: str | None = None

    _runtime: Runtime | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> MeshlakeResource:
        """The resource of a code location loaded with `settings`: its project and home."""
        return cls(project=str(settings.project_dir), home=str(settings.home_dir))

    def settings(self) -> Settings:
        """The settings of this configuration, read now (in the process running the step); their secrets are
        kept out of log lines from then on.

        Raises:
            SettingsError: the project or a setting is invalid.
        """
        flags = {name: getattr(self, name) for name in _FLAGS}
        settings = Settings.load(project=self.project, **flags)
        logs.hide(settings.secrets())
        return settings

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Stop what the step's runtime started: the Sail servers it owns (engine `spark` without `spark_url`)."""
        if self._runtime is not None:
            self._runtime.close()

    def runtime(self) -> Runtime:
        """The runtime on this configuration, built once per resource instance."""
        if self._runtime is None:
            self._runtime = Runtime(self.settings())
        return self._runtime


_FLAGS = (
    "home",
    "format",
    "iceberg_catalog_uri",
    "iceberg_catalog",
    "catalog_url",
    "catalog_db",
    "catalog_web_url",
    "nats_url",
    "warehouse",
    "landing",
    "s3_endpoint",
    "s3_region",
    "s3_path_style",
    "engine",
    "spark_url",
)
