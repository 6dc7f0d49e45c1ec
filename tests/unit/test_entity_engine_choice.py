"""Which engine rebuilds a silver entity: the entity's own `engine`, else the `engine` setting (default embedded)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.engine import EngineName
from pipelines.project import Project
from pipelines.settings import Settings
from pipelines.validation import project_problems
from tests.accounts import own_engines
from tests.paths import ACCOUNTS


def _runtime(project: Path, tmp_path: Path, **env: str) -> Runtime:
    return Runtime(Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home")} | env))


def test_an_entity_s_own_engine_comes_before_the_setting_both_ways(tmp_path: Path) -> None:
    project = own_engines(tmp_path, {"accounts": "embedded", "ledgers": "spark"})
    for setting in ("embedded", "spark"):
        runtime = _runtime(project, tmp_path, MESHLAKE_ENGINE=setting, MESHLAKE_SPARK_URL="sc://127.0.0.1:1")
        assert runtime.engine_name("accounts", entity="accounts") is EngineName.EMBEDDED
        assert runtime.engine_for("accounts", entity="accounts") is None
        assert runtime.engine_name("accounts", entity="ledgers") is EngineName.SPARK
        assert runtime.engine_for("accounts", entity="ledgers") is not None
        runtime.close()


def test_an_entity_without_an_engine_follows_the_setting(tmp_path: Path) -> None:
    embedded = _runtime(ACCOUNTS, tmp_path)
    assert embedded.engine_for("accounts", entity="ledgers") is None
    spark = _runtime(ACCOUNTS, tmp_path, MESHLAKE_ENGINE="spark", MESHLAKE_SPARK_URL="sc://127.0.0.1:1")
    assert spark.engine_name("accounts", entity="ledgers") is EngineName.SPARK
    spark.close()


def test_an_unknown_entity_engine_names_the_file_line_and_field(tmp_path: Path) -> None:
    project = own_engines(tmp_path, {"ledgers": "flink"})
    problems = Project.load(Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path)})).problem_text()
    spec = project / "domains" / "accounts" / "domain.yaml"
    line = spec.read_text().splitlines().index("    engine: flink") + 1
    assert problems == f"{spec}:{line}: entities.ledgers.engine: Input should be 'embedded' or 'spark'"


def test_validate_names_each_own_spark_engine_whose_extra_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = own_engines(tmp_path, {"ledgers": "spark"})
    settings = Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home")})
    spec = project / "domains" / "accounts" / "domain.yaml"
    line = spec.read_text().splitlines().index("    engine: spark") + 1
    assert project_problems(settings)[1] == []  # pysail and pyspark-client installed: the build would run
    monkeypatch.setitem(sys.modules, "pysail", None)  # as if the sail extra were not installed
    assert project_problems(settings)[1] == [
        f"{spec}:{line}: entities.ledgers.engine: pysail is not installed; it comes with meshlake's sail extra: "
        "pip install 'meshlake[sail]'"
    ]
    with_url = Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home"),
                                                   "MESHLAKE_SPARK_URL": "sc://127.0.0.1:1"})  # fmt: skip
    assert project_problems(with_url)[1] == []  # a server of its own: no Sail to start, pyspark-client is there
