"""Optional dependencies: without an extra, using what needs it says which extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from catalog.store.engine import make_engine
from pipelines.core.extras import MissingExtraError, require_sql_driver


def test_nats_source_without_nats_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nats", None)  # as if nats-py were not installed
    import pipelines.adapters.nats as adapter
    from pipelines.adapters.nats.server import NatsServer  # runs the executable; needs no nats-py

    assert adapter.NatsUnavailableError is not None and NatsServer is not None
    with pytest.raises(MissingExtraError, match=r"nats-py is not installed.*pip install 'meshlake\[nats\]'"):
        adapter.NatsEventSource  # noqa: B018
    with pytest.raises(MissingExtraError, match=r"meshlake\[nats\]"):
        from pipelines.adapters.nats import publish_events  # noqa: F401


@pytest.mark.parametrize(
    ("url", "module"),
    [
        ("postgresql://u@h/db", "psycopg2"),
        ("postgresql+psycopg2://u@h/db", "psycopg2"),
        ("postgresql+psycopg://h/db", "psycopg"),
    ],
)
def test_a_postgres_url_without_its_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"pip install 'meshlake\[postgres\]'"):
        require_sql_driver(url)
    with pytest.raises(MissingExtraError, match=r"meshlake\[postgres\]"):
        make_engine(url)


def test_sqlite_needs_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, module, None)
    require_sql_driver("sqlite:///catalog.db")
    make_engine("sqlite://").dispose()


def test_duckdb_httpfs_without_the_s3_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.adapters.duckdb.extensions import extension_path

    monkeypatch.setitem(sys.modules, "duckdb_extension_httpfs", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'meshlake\[s3\]'"):
        extension_path("httpfs")


@pytest.mark.parametrize("module", ["pysail", "pyspark"])
def test_the_spark_engine_without_its_packages_names_the_sail_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str
) -> None:
    from pipelines.adapters.spark import SailServer, SparkEngine

    monkeypatch.setitem(sys.modules, module, None)
    start = SailServer(tmp_path).start if module == "pysail" else SparkEngine("sc://127.0.0.1:1").session
    distribution = "pyspark-client" if module == "pyspark" else "pysail"
    with pytest.raises(MissingExtraError, match=rf"{distribution} is not installed.*pip install 'meshlake\[sail\]'"):
        start()
