"""The command line on object storage: `meshlake generate` lands files in a bucket and `query` reads products
there; a missing bucket, refused credentials or an unreachable endpoint is one error line naming the URI."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.adapters.storage import StorageOptions, open_location
from pipelines.core.framing import unframe
from tests.e2e.test_cli import BIN, _one_error_line, run


@pytest.fixture
def s3_env(tmp_path: Path, s3_server: SeaweedServer, s3_prefix: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_", "AWS_"))}
    return base | {
        "MESHLAKE_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
        "MESHLAKE_WAREHOUSE": f"{s3_prefix}/warehouse",
        "MESHLAKE_LANDING": f"{s3_prefix}/landing",
        "MESHLAKE_S3_ENDPOINT": s3_server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": s3_server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_generate_writes_landing_objects_and_config_masks_the_key(
    s3_env: dict[str, str], s3_prefix: str, s3_options: StorageOptions
) -> None:
    result = run([str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "200", "--files", "2"], s3_env)
    assert result.returncode == 0, result.stderr
    assert f"{s3_prefix}/landing/orders" in result.stdout
    landed = open_location(f"{s3_prefix}/landing", s3_options).list_files("orders")
    assert len([f for f in landed if f.uri.endswith(".pb")]) == 2 * 3  # two files of each event type
    config = run([str(BIN / "meshlake"), "config"], s3_env)
    assert config.returncode == 0 and s3_env["MESHLAKE_S3_SECRET_ACCESS_KEY"] not in config.stdout
    assert s3_env["MESHLAKE_S3_ENDPOINT"] in config.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"MESHLAKE_LANDING": "s3://no-such-bucket/landing"}, "does not exist"),
        ({"MESHLAKE_S3_SECRET_ACCESS_KEY": "wrong"}, "SIGNATURE_DOES_NOT_MATCH"),
        ({"MESHLAKE_S3_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}, "cannot"),
    ],
)
def test_bad_storage_is_one_error_line_naming_the_uri(
    s3_env: dict[str, str], s3_prefix: str, s3_options: StorageOptions, change: dict[str, str], expected: str
) -> None:
    result = run([str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "50"], s3_env | change)
    line = _one_error_line(result)
    assert result.returncode == 1 and "s3://" in line and expected in line, line
    assert open_location(s3_prefix, s3_options).list_files() == []  # nothing half-written
    # the store refuses every write, so nothing can land there: what a failed generate could leave is files
    # elsewhere, e.g. the local landing of the embedded default (<home>/landing)
    home = s3_env["MESHLAKE_HOME"]
    assert [str(f) for f in Path(home).rglob("*") if f.is_file()] == [], f"files left under {home}"


def test_publish_puts_one_object_per_event_type_into_an_s3_landing_zone(
    s3_env: dict[str, str], s3_prefix: str, s3_options: StorageOptions
) -> None:
    landing = f"{s3_prefix}/producer"
    args = [str(BIN / "meshlake"), "publish", "--domain", "orders", "--count", "300", "--seed", "4", "--url", landing]
    result = run(args, s3_env)
    assert result.returncode == 0, result.stderr
    assert f"{landing}/orders" in result.stdout
    location = open_location(landing, s3_options)
    objects = location.list_files("orders")
    assert [f.uri.rsplit("/", 2)[-2] for f in objects] == ["order_cancelled", "order_item_returned", "order_placed"]
    frames = [unframe(location.read_bytes(f.uri.removeprefix(landing + "/"))) for f in objects]
    assert all(f.error is None for f in frames) and sum(len(f.offsets) for f in frames) == 300
    again = run(args, s3_env)
    assert again.returncode == 0, again.stderr
    assert len(location.list_files("orders")) == 6  # a second run adds, never replaces


def test_publish_to_a_missing_bucket_is_one_error_line_naming_it(
    s3_env: dict[str, str], s3_prefix: str, s3_options: StorageOptions
) -> None:
    args = [str(BIN / "meshlake"), "publish", "-d", "orders", "-n", "20", "--url", "s3://no-such-bucket/in"]
    line = _one_error_line(run(args, s3_env))
    assert "s3://no-such-bucket/in" in line and "does not exist" in line, line
