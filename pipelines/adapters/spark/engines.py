"""SparkEngines: the Spark Connect engine of each domain, and the Sail servers meshlake owns for them.

With `spark_url` every domain computes on that server (its operator configures its catalog `lake`).
Without it, each domain gets a Sail server of its own on 127.0.0.1, configured with meshlake's
Iceberg REST catalog and the domain's own catalog token: the engine reads only what the domain may
read. The REST catalog is the catalog service's (`catalog_url` + `/iceberg`, with the domain's token from
`catalog_domain_tokens`, else `catalog_token`), else the embedded catalog served for as long as the engines
run, minting each domain a token that is revoked when they stop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import TYPE_CHECKING, Any

from pipelines.adapters.spark.engine import SparkEngine
from pipelines.adapters.spark.server import SailServer, catalog_environment
from pipelines.ports.engine import Computed, EngineError, KeyedTarget, KeyedWrite, Scan

ACTOR = "meshlake engine"
"""Who the embedded catalog's audit log says minted and revoked an engine's token."""

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.connect.session import SparkSession

    from catalog.service import CatalogService
    from pipelines.settings import Settings


class SparkEngines:
    """The engines of one run, started on first use and stopped by `close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
                engine = SparkEngine(self.settings.spark_url)
            else:
                engine = _SailEngine(lambda: self._start_sail(domain))
            self._engines[key] = engine
        return self._engines[key]

    def _start_sail(self, domain: str) -> SailServer:
        uri, token = self._catalog_for(domain)
        environment = self.settings.child_environment() | catalog_environment(uri, token)
        server = SailServer(self.settings.home_dir / "engine", environment)
        self._stack.callback(server.stop)
        self.servers[domain] = server.start()
        return server

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

    def __init__(self, start: Callable[[], SailServer]) -> None:
        super().__init__("sc://127.0.0.1", "Sail (not started)")
        self._start = start
        self._server: SailServer | None = None

    def session(self) -> SparkSession:
        if self._server is not None and self._server.ended is not None and self._session is not None:
            session, self._session = self._session, None  # its server is gone (killed, crashed): a new one next
            with suppress(Exception):  # closed without asking the dead server; left open, pyspark would ask it
                session.client.close()  # again when this process exits
        if self._session is None:
            self._server = self._start()
            self.url, self.label = self._server.url, f"Sail on {self._server.url}"
        return super().session()

    def compute(self, transform: Callable[..., Any], scans: list[Scan], schema: pa.Schema | None = None) -> Computed:
        """As `SparkEngine.compute`; a failure because the Sail server died says so (and where its log is)."""
        with self._server_deaths():
            return super().compute(transform, scans, schema)

    def write_keys(self, transform: Callable[..., Any], scans: list[Scan], target: KeyedTarget) -> KeyedWrite | None:
        """As `SparkEngine.write_keys`; a failure because the Sail server died says so (and where its log is)."""
        with self._server_deaths():
            return super().write_keys(transform, scans, target)

    @contextmanager
    def _server_deaths(self) -> Iterator[None]:
        try:
            yield
        except EngineError as exc:
            if self._server is None or (ended := self._server.ended) is None:
                raise
            log = self._server.log_file
            raise EngineError(f"{self.label} stopped during the build ({ended}); its log: {log}") from exc
