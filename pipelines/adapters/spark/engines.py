"""SparkEngines: the Spark Connect engine of each domain, and the Sail servers meshlake owns for them.

With `spark_url` every domain computes on that server (its operator configures its catalog `lake`).
Without it, each domain gets a Sail server of its own on 127.0.0.1, configured with meshlake's
Iceberg REST catalog and the domain's own catalog token: the engine reads only what the domain may
read. The REST catalog is the catalog service's (`catalog_url` + `/iceberg`, with the domain's token from
`catalog_domain_tokens`, else `catalog_token`), else the embedded catalog served for as long as the engines
run, minting each domain a token that is revoked when they stop. A Sail server is also given the S3 store of
the settings (endpoint, region, path style, `AWS_EC2_METADATA_DISABLED`; see `S3Backend.environment`): it reads
and writes Delta tables on `s3://` at their locations, and reads the files of the Iceberg tables the REST catalog
names. Sail 0.7 takes no storage setting from a loaded table's `config` (endpoint, path style, vended keys: it
fetches them, then opens every `s3://` file with its own object store, `AmazonS3Builder::from_env`), so these
variables are its only S3 settings. Its key is the domain's own when `s3_writer_keys` names one for the domain
(the key the catalog vends to the domain for its tables: the store lets it write only the domain's tables), so
a transform on the domain's Sail cannot write another domain's files by their `s3://` path; without one, it is
the settings' own key (`s3_access_key_id`), which reaches every table. The server's environment holds no other
credential setting (`Settings.engine_environment`): not the warehouse's key, nor other domains' keys or tokens.
The grants hold at the catalog too, which refuses to load a table the domain may not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipelines.adapters.spark.engine import SparkEngine
from pipelines.adapters.spark.server import SailServer, catalog_environment
from pipelines.adapters.storage import StorageOptions
from pipelines.ports.engine import Computed, EngineError, EntityRebuild, KeyedTarget, KeyedWrite, Scan

ACTOR = "meshlake engine"
"""Who the embedded catalog's audit log says minted and revoked an engine's token."""

if TYPE_CHECKING:
    import pyarrow as pa

    from catalog.service import CatalogService
    from pipelines.core.names import TableId
    from pipelines.settings import Settings


class SparkEngines:
    """The engines of one run, started on first use and stopped by `close`."""

    def __init__(self, settings: Settings, storage: StorageOptions | None = None) -> None:
        self.settings = settings
        self.storage = storage or StorageOptions()
        self._engines: dict[str, SparkEngine] = {}
        self.servers: dict[str, SailServer] = {}
        self._stack = ExitStack()
        self._rest: tuple[str, CatalogService] | None = None

    def for_domain(self, domain: str) -> SparkEngine:
        """The engine that builds `domain`'s products (its Sail server starts when it first computes: a
        plain Polars transform, computed embedded, starts none)."""
        key = "" if self.settings.spark_url else domain
        if key not in self._engines:
            if self.settings.spark_url:
                engine = SparkEngine(self.settings.spark_url, timeout_s=self.settings.spark_timeout_seconds)
            else:
                engine = _SailEngine(lambda: self._start_sail(domain), self.settings.spark_timeout_seconds)
            self._engines[key] = engine
        return self._engines[key]

    def _start_sail(self, domain: str) -> SailServer:
        uri, token = self._catalog_for(domain)
        environment = self.settings.engine_environment() | catalog_environment(uri, token)
        from pipelines.adapters.storage.s3 import S3Backend

        storage = self._storage_of(domain)
        if storage is not self.storage:
            environment.pop("AWS_SESSION_TOKEN", None)  # a temporary key of this process's, not the domain's
        environment |= S3Backend(storage).environment()  # Delta at its location, Iceberg's files: the same store
        server = SailServer(self.settings.home_dir / "engine", environment)
        self._stack.callback(server.stop)
        self.servers[domain] = server.start()
        return server

    def _storage_of(self, domain: str) -> StorageOptions:
        """The store as `domain`'s Sail reaches it: with the domain's own key of `s3_writer_keys` when the settings
        give it one (it writes only the domain's tables), else with the settings' own key."""
        key = self.settings.s3_writer_key_map.get(domain)
        if key is None:
            return self.storage
        s3 = replace(
            self.storage.s3,
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
            session_token=None,
        )
        return replace(self.storage, s3=s3)

    def _catalog_for(self, domain: str) -> tuple[str, str | None]:
        """The Iceberg REST catalog's URI and the bearer token `domain` reads it with: its own token for
        `catalog_url` (`catalog_domain_tokens`, else `catalog_token`), or one minted in the embedded catalog
        for this run and revoked by `close` (a run leaves no live token behind)."""
        if self.settings.catalog_url:
            return f"{self.settings.catalog_url.rstrip('/')}/iceberg", self.settings.catalog_token_for(domain)
        if self._rest is None:
            self._rest = self._serve_embedded()
        url, service = self._rest
        token = service.create_token(domain, "domain", actor=ACTOR)
        self._stack.callback(service.revoke_secret, token, actor=ACTOR)
        return url, token

    def _serve_embedded(self) -> tuple[str, CatalogService]:
        """The embedded catalog and its Iceberg REST API on a free loopback port, until `close`."""
        from catalog.service import CatalogService
        from catalog.testing import serve_in_thread
        from pipelines.serving.iceberg_rest import rest_app

        service = CatalogService.open(self.settings.catalog_db_url)
        self._stack.callback(service.close)
        url = self._stack.enter_context(serve_in_thread(rest_app(self.settings, service)))
        return f"{url}/iceberg", service

    def close(self) -> None:
        """Stop every session, then the owned servers and the served catalog."""
        for engine in self._engines.values():  # first: a session released on a stopped server retries in vain
            engine.close()
        self._stack.close()
        self._engines.clear()
        self.servers.clear()
        self._rest = None


class _SailEngine(SparkEngine):
    """A SparkEngine on a Sail server started when its session is first needed.

    Raises (from `session`, so from `compute`):
        SailStartError: the Sail server did not start.
        MissingExtraError: pysail or pyspark-client is missing (the `sail` extra).
    """

    def __init__(self, start: Callable[[], SailServer], timeout_s: float) -> None:
        super().__init__("sc://127.0.0.1", "Sail (not started)", timeout_s)
        self._start = start
        self._server: SailServer | None = None

    def _prepare(self) -> None:
        """Start the server unless it runs (its start has a limit of its own, not the computation's deadline)."""
        server = self._server
        if server is not None and (server.ended is not None or server.pid is None):  # died, or meshlake stopped it
            self._forget_session()
            self._server = None
        if self._server is None:
            self._server = self._start()
            self.url, self.label = self._server.url, f"Sail on {self._server.url}"

    def compute(
        self,
        transform: Callable[..., Any],
        scans: list[Scan],
        schema: pa.Schema | None = None,
        product: TableId | None = None,
    ) -> Computed:
        """As `SparkEngine.compute`; a failure because the Sail server died says so (and where its log is)."""
        with self._server_deaths():
            return super().compute(transform, scans, schema, product)

    def write_keys(self, transform: Callable[..., Any], scans: list[Scan], target: KeyedTarget) -> KeyedWrite | None:
        """As `SparkEngine.write_keys`; a failure because the Sail server died says so (and where its log is)."""
        with self._server_deaths():
            return super().write_keys(transform, scans, target)

    def rebuild_entity(self, rebuild: EntityRebuild) -> Computed:
        """As `SparkEngine.rebuild_entity`; a failure because the Sail server died says so (and where its log is)."""
        with self._server_deaths():
            return super().rebuild_entity(rebuild)

    def _unanswered(self) -> str:
        """Stops the server that did not answer the interrupt (it could go on and commit later); the next
        computation starts a new one."""
        if self._server is not None:
            self._server.stop(timeout_s=2.0)  # not answering: a graceful stop would not be answered either
        return f"{super()._unanswered()}, so it was stopped"

    @contextmanager
    def _server_deaths(self) -> Iterator[None]:
        try:
            yield
        except EngineError as exc:
            if self._server is None or (ended := self._server.ended) is None:
                raise
            log = self._server.log_file
            raise EngineError(f"{self.label} stopped during the build ({ended}); its log: {log}") from exc
