"""SparkEngine: portable transforms on a Spark Connect server (Sail, Apache Spark, Databricks).

Inputs are read through their formats' own protocols: Iceberg tables by name in the server's
Iceberg REST catalog `lake` (meshlake's catalog service, which applies the grants), Delta tables at
their location, each at the version the build records (Iceberg's snapshot id, Delta's version). The
transform runs on the server; its result (a gold product: aggregated, small) comes back as Arrow for
meshlake's writer to commit, as do a silver entity's rebuilt rows (`rebuild_entity`). A keyed Delta product
is written by the server itself (`write_keys`): only the rows of the keys that changed, with the build's
watermark in the commit's `userMetadata`.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipelines.adapters.spark.compat import plan_metrics
from pipelines.adapters.spark.deadline import Deadline
from pipelines.adapters.spark.entity import entity_frame, read_counts
from pipelines.adapters.spark.server import CATALOG_NAME
from pipelines.core.commits import TableFormat, properties_text
from pipelines.core.extras import require
from pipelines.core.names import TableId
from pipelines.ports.engine import Computed, EngineError, EntityRebuild, KeyedTarget, KeyedWrite, Scan
from pipelines.ports.incremental import Ranges

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.connect.session import SparkSession


MAX_LISTED_KEYS = 10_000
"""Changed keys a keyed write names in its `replaceWhere`; more replace the whole table (in the same one commit)."""

RETRIES = 5
"""Times a failed call to the server is retried (after 0.05, 0.2, 0.8, 2 and 2 s) before the build fails."""

ANSWER_S = 10.0
"""How long the server has to answer an interrupt or the release of a session."""


class SparkEngine:
    """A Spark Connect session at `url`, opened at the first computation.

    Each computation's calls to the server end by its deadline, `timeout_s` after it starts; past it, the
    session's operations are interrupted and the computation fails (`EngineError`), having committed nothing.

    Args:
        url: `sc://host:port`.
        label: what the engine is in messages and metadata (`Sail on sc://…`, `Spark Connect at sc://…`).
        timeout_s: the deadline of one computation (the `spark_timeout_seconds` setting).
    """

    name = "spark"

    def __init__(self, url: str, label: str | None = None, timeout_s: float = 3600.0) -> None:
        self.url = url
        self.label = label or f"Spark Connect at {url}"
        self.timeout_s = timeout_s
        self._session: SparkSession | None = None
        self._deadline = Deadline()

    def session(self) -> SparkSession:
        """The Spark Connect session, created once (inside `_work`, which first readies the server: `_prepare`).

        Raises:
            MissingExtraError: pyspark-client is not installed (the `sail` extra).
        """
        if self._session is None:
            require("pyspark")
            with warnings.catch_warnings():  # pyspark 4.2 warns that it does not fully support pandas 3: unused here
                warnings.simplefilter("ignore", FutureWarning)
                from pyspark.sql.connect.client import DefaultChannelBuilder
                from pyspark.sql.connect.client.retries import DefaultPolicy
                from pyspark.sql.connect.session import SparkSession

            channel = DefaultChannelBuilder(self.url)
            channel.add_interceptor(self._deadline)  # pyspark's calls have no timeout: each ends by the deadline
            self._session = SparkSession.builder.channelBuilder(channel).create()
            # pyspark retries an unreachable server for at least 10 minutes: a build fails within seconds instead.
            self._session.client.set_retry_policies([DefaultPolicy(max_retries=RETRIES, max_backoff=2000)])
            self._session.conf.set("spark.sql.session.timeZone", "UTC")  # dates of timestamps are UTC days
        return self._session

    def compute(
        self,
        transform: Callable[..., Any],
        scans: list[Scan],
        schema: pa.Schema | None = None,
        product: TableId | None = None,
    ) -> Computed:
        """Run `transform` over the scans on the server and bring its rows back as Arrow.

        Raises:
            EngineError: the server is unreachable, stopped, refused a read (a grant) or the plan, or the
                computation (of `product`) passed its deadline.
        """
        began = time.monotonic()
        with self._work(product):
            spark = self.session()
            result = self._compute(spark, transform, scans)
            data = result.toArrow()
        if schema is not None:
            data = data.select(schema.names).cast(schema)
        return Computed(data, self._metrics(spark, result, began))

    def write_keys(self, transform: Callable[..., Any], scans: list[Scan], target: KeyedTarget) -> KeyedWrite | None:
        """Replace the rows of the keys whose rows differ from the transform's, in one Delta commit on the server
        recording `target.properties` (`commitInfo.userMetadata`, see `properties_text`); no commit when none do,
        none either when the transform's columns are not the table's (None: the caller writes).

        The rows are compared with the table at `target.version` and never leave the server; only the changed
        keys come back (to name them in the write's `replaceWhere`; past `MAX_LISTED_KEYS`, or for keys of a
        type without a plain SQL literal, the write replaces the whole table). With `target.ranges` the write
        replaces the rows in those ranges (`replaceWhere` on them) without comparing.

        Raises:
            EngineError: the server is unreachable, stopped, or refused a read, the plan or the write.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_type

        began = time.monotonic()
        with self._work(target.table):
            spark = self.session()
            result = self._compute(spark, transform, scans)
            if sorted(result.columns) != sorted(target.schema.names):
                return None
            rows = result.select(*[F.col(f.name).cast(from_arrow_type(f.type)) for f in target.schema])
            key, written = target.key, rows
            where: str | None
            if target.ranges is not None:
                where, replaced = _in_ranges(key, target.ranges), len(target.ranges)
            else:
                at = spark.read.format("delta").option("versionAsOf", target.version).load(target.location)
                current = at.select(*target.schema.names)
                changed = rows.exceptAll(current).select(key).union(current.exceptAll(rows).select(key))
                keys = [row[0] for row in changed.distinct().limit(MAX_LISTED_KEYS + 1).collect()]
                listed, replaced = _key_list(keys), len(keys)
                where = f"`{key}` IN ({listed})" if listed is not None else None  # None: the whole table
            if replaced:
                written = (rows.filter(where) if where else rows).sortWithinPartitions(key)  # files by key range
                writer = written.write.format("delta").mode("overwrite")
                if where:
                    writer = writer.option("replaceWhere", where)
                writer.option("userMetadata", properties_text(target.properties)).save(target.location)
        return KeyedWrite(replaced, self._metrics(spark, written, began))

    def rebuild_entity(self, rebuild: EntityRebuild) -> Computed:
        """Rebuild a silver entity's state from all of its events on the server (see `entity_frame`) and bring
        its rows back as Arrow, with the rows and events read (`read_counts`; a history's rebuild reads the same
        events as its state's, whose counts a build reports: not counted again).

        Raises:
            EngineError: the server is unreachable, stopped, refused a read or the plan, a conform or finish
                function failed on its workers, or the computation passed its deadline.
        """
        began = time.monotonic()
        with self._work(rebuild.table):
            spark = self.session()
            result = entity_frame(spark, rebuild, lambda scan: self._read(spark, scan, {}))
            data = result.toArrow()
            counts = None if rebuild.history else read_counts(spark, rebuild, lambda scan: self._read(spark, scan, {}))
        rows, events = counts or (None, None)
        return Computed(data, self._metrics(spark, result, began), rows, events)

    @contextlib.contextmanager
    def _work(self, product: TableId | None) -> Iterator[None]:
        """A computation on the server (of `product`), whose calls end by its deadline (counted once the server is
        there, see `_prepare`); its failures become one `EngineError` line, and past the deadline the session's
        operations are interrupted first.

        Raises:
            EngineError: the block failed calling the server, or passed its deadline.
        """
        from pyspark.errors import PySparkException

        self._prepare()
        ends = time.monotonic() + self.timeout_s
        try:
            with self._deadline.within(self.timeout_s), _no_retries_warning():
                yield
        except (PySparkException, ConnectionError, OSError) as exc:
            if time.monotonic() < ends:
                raise EngineError(f"{self.label} failed: {_first_line(exc)}") from exc
            what = str(product) if product is not None else "a computation"
            outcome = "its operations were interrupted" if self._interrupt() else self._unanswered()
            raise EngineError(
                f"{self.label}: {what} was not done within spark_timeout_seconds ({self.timeout_s:g} s); {outcome}"
            ) from exc

    def _prepare(self) -> None:
        """What a computation needs before its deadline starts (nothing here: the server is someone else's)."""

    def _interrupt(self) -> bool:
        """Interrupt the session's operations and let the session go; whether the server answered in time."""
        from pyspark.errors import PySparkException

        if self._session is None:
            return True
        try:
            with self._deadline.within(ANSWER_S), _no_retries_warning():
                self._session.interruptAll()
        except (PySparkException, ConnectionError, OSError):
            self._forget_session()
            return False
        self.close()
        return True

    def _unanswered(self) -> str:
        """What the failure says of a server that did not answer the interrupt."""
        return f"the server did not answer the interrupt within {ANSWER_S:g} s"

    def _forget_session(self) -> None:
        """Let the session go without asking the server (gone or not answering) to release it: its channel is
        closed (pyspark would otherwise release it when this process exits, asking the server again), and pyspark
        no longer takes it for the process's default or the thread's active session (a later session then is;
        UDFs and other calls that look the active session up failed with NO_ACTIVE_OR_DEFAULT_SESSION)."""
        session, self._session = self._session, None
        if session is not None:
            session.release_session_on_close = False  # public, for this: stop() then makes no call to the server
            with contextlib.suppress(Exception):
                session.stop()

    def _compute(self, spark: SparkSession, transform: Callable[..., Any], scans: list[Scan]) -> DataFrame:
        frames: dict[str, DataFrame] = {}
        for scan in sorted(scans, key=lambda s: s.keys_from is not None):  # keyed reads follow their source
            frames[scan.name] = self._read(spark, scan, frames)
        result: DataFrame = transform(**frames)
        return result

    def _metrics(self, spark: SparkSession, frame: DataFrame, began: float) -> dict[str, Any]:
        return {
            "engine": self.name,
            "spark_url": self.url,
            "spark_session_id": spark.session_id,
            "spark_version": spark.version,
            "spark_seconds": round(time.monotonic() - began, 3),
            **{f"spark_metric.{k}": v for k, v in plan_metrics(frame).items()},
        }

    def _read(self, spark: SparkSession, scan: Scan, frames: dict[str, DataFrame]) -> DataFrame:
        from pyspark.sql import functions as F

        frame: DataFrame
        if scan.format is TableFormat.ICEBERG:
            reader = spark.read
            if scan.version is not None:  # an Iceberg version is its snapshot id
                reader = reader.option("snapshot-id", str(scan.version))
            frame = reader.table(f"{CATALOG_NAME}.{scan.table.domain}.{scan.table.name}")
        else:
            reader = spark.read.format("delta")
            if scan.version is not None:
                reader = reader.option("versionAsOf", scan.version)
            frame = reader.load(scan.location)
        if scan.column is not None and scan.ranges is not None:
            condition: Column | None = None
            for start, end in scan.ranges:
                within = (F.col(scan.column) >= F.lit(start)) & (F.col(scan.column) < F.lit(end))
                condition = within if condition is None else condition | within
            frame = frame.filter(condition if condition is not None else F.lit(False))
        if scan.column is not None and scan.keys_from is not None:
            keys = frames[scan.keys_from].select(scan.column).distinct()
            frame = frame.join(keys, on=scan.column, how="left_semi")
        return frame

    def close(self) -> None:
        """Stop the session (not the server)."""
        if self._session is not None:
            session, self._session = self._session, None
            with contextlib.suppress(Exception), self._deadline.within(ANSWER_S), _no_retries_warning():
                session.stop()  # a server gone or not answering leaves nothing to release


@contextlib.contextmanager
def _no_retries_warning() -> Iterator[None]:
    """Without pyspark's warning that its retries ran out: the error (or the server's absence) says it once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"\[RETRIES_EXCEEDED\]", UserWarning)
        yield


def _first_line(exc: BaseException) -> str:
    """The error in one line: a gRPC failure's `details`, else the first line of the message; for a failure in the
    server's Python workers (a domain's function), the exception their traceback ends with."""
    text = str(exc).strip() or type(exc).__name__
    details = re.search(r'details = "(.*)"', text)
    lines = text.splitlines()
    if _TRACEBACK in lines:
        after = lines[lines.index(_TRACEBACK) + 1 :]
        raised = [line for line in after if line and not line[0].isspace()]
        if raised:
            return f"{raised[-1]} (in the server's Python worker)"[:500]
    return (details.group(1) if details else lines[0])[:500]


_TRACEBACK = "Traceback (most recent call last):"


def _in_ranges(column: str, ranges: Ranges) -> str:
    """The SQL condition that `column` falls in one of the half-open `ranges` (dates, timestamps, integers)."""
    return " OR ".join(f"(`{column}` >= {_literal(low)} AND `{column}` < {_literal(high)})" for low, high in ranges)


def _literal(value: Any) -> str:
    """A date, an (aware: UTC) timestamp or an integer as Spark SQL text; the session's time zone is UTC."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return f"TIMESTAMP'{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"no Spark SQL literal for a range bound {value!r}")


def _key_list(keys: list[Any]) -> str | None:
    """`keys` as the SQL literals of an IN list (strings and integers), or None: too many, or another type."""
    if len(keys) > MAX_LISTED_KEYS:
        return None
    if all(isinstance(k, str) for k in keys):
        return ", ".join("'" + k.replace("\\", "\\\\").replace("'", "\\'") + "'" for k in keys)
    if all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
        return ", ".join(str(k) for k in keys)
    return None
