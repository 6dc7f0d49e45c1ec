"""Storage settings: one warehouse and one landing URI, S3 options from MESHLAKE_S3_* or the AWS variables."""

from __future__ import annotations

from pathlib import Path

from pipelines.bootstrap import Runtime
from pipelines.settings import Settings


def test_locations_default_to_the_home_and_keep_uris_as_given(tmp_path: Path) -> None:
    default = Settings.load(env={"MESHLAKE_HOME": str(tmp_path / "home")}, cwd=tmp_path)
    assert default.warehouse_uri == str(tmp_path / "home") and default.landing_uri == str(tmp_path / "home" / "landing")
    given = Settings.load(
        env={"MESHLAKE_HOME": "h", "MESHLAKE_WAREHOUSE": "s3://lake/wh", "MESHLAKE_LANDING": "drop"}, cwd=tmp_path
    )
    assert given.warehouse_uri == "s3://lake/wh" and given.landing_uri == str(tmp_path / "drop")


def test_s3_credentials_come_from_the_aws_variables_unless_meshlake_sets_them(tmp_path: Path) -> None:
    env = {
        "MESHLAKE_HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "aws-key",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "MESHLAKE_S3_ACCESS_KEY_ID": "meshlake-key",
    }
    settings = Settings.load(env=env, cwd=tmp_path)
    assert settings.s3_access_key_id == "meshlake-key" and str(settings.source("s3_access_key_id")) == (
        "MESHLAKE_S3_ACCESS_KEY_ID"
    )
    assert str(settings.source("s3_secret_access_key")) == "AWS_SECRET_ACCESS_KEY"
    assert "aws-secret" not in repr(settings) and "aws-secret" not in str(settings.model_dump())
    options = Runtime(settings, domains=[]).storage_options.s3
    assert (options.endpoint, options.access_key_id, options.secret_access_key) == (
        "http://127.0.0.1:9",
        "meshlake-key",
        "aws-secret",
    )
    assert options.path_style  # an endpoint of its own: an S3-compatible store, addressed by path
    assert "aws-secret" not in repr(options)


def test_meshlake_config_masks_the_s3_secrets(tmp_path: Path) -> None:
    from pipelines.settings import MASK
    from pipelines.settings_view import config_rows

    env = {
        "MESHLAKE_HOME": str(tmp_path),
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "MESHLAKE_S3_SESSION_TOKEN": "t0k3n-xyz",
    }
    rows = {row.name: row for row in config_rows(Settings.load(env=env, cwd=tmp_path))}
    assert rows["s3_secret_access_key"].value == MASK and rows["s3_session_token"].value == MASK
    assert "aws-secret" not in repr(list(rows.values())) and "t0k3n-xyz" not in repr(rows["s3_session_token"])
