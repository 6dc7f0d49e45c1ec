"""Settings: the project is found like git finds a repository; file < MESHLAKE_* < flags, each value's source kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.commits import TableFormat
from pipelines.settings import Settings, SettingsError
from tests.paths import MESH


def yaml_project(root: Path, text: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "meshlake.yaml").write_text(text)
    return root


def pyproject_project(root: Path, table: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "team"\n\n[tool.meshlake]\n{table}')
    return root


def test_the_project_is_found_walking_up_from_the_working_directory(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team")
    deep = root / "domains" / "sales"
    deep.mkdir(parents=True)

    settings = Settings.load(cwd=deep, env={})

    assert settings.project == root
    assert settings.home == root / ".meshlake"
    assert settings.domains_dir == root / "domains"
    assert settings.schemas == [root / "schemas"]
    assert settings.source("project").kind == "default"
    assert settings.source("home").kind == "default"


def test_a_pyproject_without_a_meshlake_table_is_not_a_project(tmp_path: Path) -> None:
    outer = pyproject_project(tmp_path / "outer")
    inner = outer / "lib"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "lib"\n')

    assert Settings.load(cwd=inner, env={}).project == outer


def test_no_project_found_is_no_error_until_one_is_needed(tmp_path: Path) -> None:
    settings = Settings.load(cwd=tmp_path, env={})

    assert settings.project is None
    with pytest.raises(SettingsError, match="no meshlake project here"):
        _ = settings.project_dir
    with pytest.raises(SettingsError, match="MESHLAKE_HOME is not set"):
        _ = settings.landing_dir
    assert list(tmp_path.iterdir()) == []  # loading created nothing


def test_the_flag_beats_the_environment_which_beats_walking_up(tmp_path: Path) -> None:
    here = yaml_project(tmp_path / "here")
    from_env = pyproject_project(tmp_path / "env")
    from_flag = yaml_project(tmp_path / "flag")

    assert Settings.load(cwd=here, env={}).project == here
    by_env = Settings.load(cwd=here, env={"MESHLAKE_PROJECT": str(from_env)})
    assert by_env.project == from_env
    assert str(by_env.source("project")) == "MESHLAKE_PROJECT"
    by_flag = Settings.load(project=from_flag, cwd=here, env={"MESHLAKE_PROJECT": str(from_env)})
    assert by_flag.project == from_flag
    assert str(by_flag.source("project")) == "--project"
    assert Settings.load(project=from_flag / "meshlake.yaml", env={}).project == from_flag


def test_a_folder_named_as_project_that_is_none_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"not a meshlake project \(no meshlake.yaml"):
        Settings.load(project=tmp_path, env={})
    with pytest.raises(SettingsError, match="no such project folder"):
        Settings.load(env={"MESHLAKE_PROJECT": str(tmp_path / "gone")})


def test_both_project_files_in_one_folder_are_refused(tmp_path: Path) -> None:
    root = pyproject_project(yaml_project(tmp_path / "both"))
    with pytest.raises(SettingsError, match=r"both meshlake\.yaml and \[tool\.meshlake\]"):
        Settings.load(cwd=root, env={})


def test_project_file_then_environment_then_flags_with_the_source_of_each(tmp_path: Path) -> None:
    root = pyproject_project(
        tmp_path / "team",
        'home = "data"\nformat = "delta"\nnats_url = "nats://file:4222"\nschemas = ["protos", "vendor/protos"]\n',
    )
    env = {"MESHLAKE_FORMAT": "iceberg", "MESHLAKE_NATS_URL": "nats://env:4222", "UNRELATED": "x"}

    settings = Settings.load(cwd=root, env=env, nats_url="nats://flag:4222")

    assert settings.home == root / "data"  # relative to the project, not the cwd
    assert settings.schemas == [root / "protos", root / "vendor" / "protos"]
    assert settings.format is TableFormat.ICEBERG
    assert settings.nats_url == "nats://flag:4222"
    pyproject = f"{root / 'pyproject.toml'} [tool.meshlake]"
    assert (settings.source("home").kind, str(settings.source("home"))) == ("file", pyproject)
    assert str(settings.source("format")) == "MESHLAKE_FORMAT"
    assert str(settings.source("nats_url")) == "--nats-url"
    assert settings.source("catalog_url").kind == "default"


def test_environment_paths_are_relative_to_the_working_directory_and_lists_split(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team")
    env = {"MESHLAKE_HOME": "h", "MESHLAKE_SCHEMAS": "a:b"}

    settings = Settings.load(cwd=root / "..", env=env)

    assert settings.home == tmp_path / "h"
    assert settings.schemas == [tmp_path / "a", tmp_path / "b"]


def test_an_invalid_value_names_the_setting_and_where_it_was_given(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team", "format: parquet\n")
    with pytest.raises(SettingsError, match=r"meshlake.yaml \(format\)='parquet': not a table format"):
        Settings.load(cwd=root, env={})
    with pytest.raises(SettingsError, match=r"^MESHLAKE_FORMAT='orc': not a table format \(iceberg, delta"):
        Settings.load(cwd=root, env={"MESHLAKE_FORMAT": "orc"})


def test_an_unknown_key_in_the_project_file_is_refused(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team", "colour: blue\n")
    with pytest.raises(SettingsError, match=r"meshlake\.yaml: unknown setting 'colour'"):
        Settings.load(cwd=root, env={})


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team", "format: delta\n")
    settings = Settings.load(cwd=root, env={"MESHLAKE_FORMAT": "", "MESHLAKE_CATALOG_URL": ""})
    assert settings.format is TableFormat.DELTA
    assert settings.catalog_url is None


def test_secrets_stay_masked_in_the_model(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team")
    settings = Settings.load(cwd=root, env={"MESHLAKE_CATALOG_TOKEN": "mlk_secret"})

    assert "mlk_secret" not in repr(settings)
    assert settings.token == "mlk_secret"
    assert settings.env_values()["MESHLAKE_CATALOG_TOKEN"] == "mlk_secret"  # handed to child processes


def test_child_processes_get_the_effective_settings_as_variables(tmp_path: Path) -> None:
    root = yaml_project(tmp_path / "team", "format: delta\n")
    values = Settings.load(cwd=root, env={}).env_values()

    assert values["MESHLAKE_PROJECT"] == str(root)
    assert values["MESHLAKE_FORMAT"] == "delta"
    assert Settings.load(env=values, cwd=tmp_path).model_dump() == Settings.load(cwd=root, env={}).model_dump()


def test_the_engine_environment_holds_no_secret_of_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYICEBERG_CATALOG__LAKE__URI", "http://127.0.0.1:8765/iceberg")
    monkeypatch.setenv("PYICEBERG_CATALOG__LAKE__TOKEN", "mlk_admin_of_pyiceberg")
    settings = Settings.load(project=MESH, env={
        "MESHLAKE_HOME": str(tmp_path),
        "MESHLAKE_ICEBERG_CATALOG_URI": "postgresql://meshlake:pg-password-1@127.0.0.1:5432/iceberg",
        "MESHLAKE_CATALOG_TOKEN": "mlk_admin_of_meshlake",
        "MESHLAKE_S3_ACCESS_KEY_ID": "warehouse-key", "MESHLAKE_S3_SECRET_ACCESS_KEY": "warehouse-secret-1",
    })  # fmt: skip
    engine = settings.engine_environment()
    text = "\n".join(f"{name}={value}" for name, value in engine.items())
    for secret in ("pg-password-1", "mlk_admin_of_meshlake", "warehouse-secret-1", "mlk_admin_of_pyiceberg"):
        assert secret not in text
    assert engine["MESHLAKE_HOME"] == str(tmp_path)  # what is no secret is passed on
    assert settings.child_environment()["MESHLAKE_ICEBERG_CATALOG_URI"].endswith("@127.0.0.1:5432/iceberg")
