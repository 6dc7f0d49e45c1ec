"""`meshlake config` as a user runs it: each setting, its value and its source; reading creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def config(cwd: Path, *args: str, **env: str) -> dict[str, tuple[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    done = subprocess.run(
        [str(BIN / "meshlake"), *args, "config"], capture_output=True, text=True, cwd=cwd, env=base | env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rows = {}
    for line in done.stdout.splitlines():
        name, value, source = line.split(None, 2)
        rows[name] = (value, source)
    return rows


def test_config_shows_values_and_their_sources_from_file_env_and_flag(tmp_path: Path) -> None:
    team = tmp_path / "team"
    (team / "sub").mkdir(parents=True)
    (team / "pyproject.toml").write_text('[project]\nname = "t"\n\n[tool.meshlake]\nformat = "delta"\nhome = "data"\n')
    other = tmp_path / "other"
    other.mkdir()
    (other / "meshlake.yaml").write_text("nats_url: nats://127.0.0.1:4222\n")

    found = config(team / "sub", MESHLAKE_FORMAT="iceberg", MESHLAKE_CATALOG_TOKEN="mlk_secret")

    assert found["project"] == (str(team), f"found from {team / 'sub'}")
    assert found["home"] == (str(team / "data"), f"{team / 'pyproject.toml'} [tool.meshlake]")
    assert found["format"] == ("iceberg", "MESHLAKE_FORMAT")
    assert found["catalog_token"] == ("********", "MESHLAKE_CATALOG_TOKEN")
    flagged = config(team / "sub", "--project", str(other))
    assert flagged["project"] == (str(other), "--project")
    assert flagged["nats_url"] == ("nats://127.0.0.1:4222", str(other / "meshlake.yaml"))
    assert sorted(p.name for p in team.iterdir()) == ["pyproject.toml", "sub"]  # no home was created
    assert list(other.iterdir()) == [other / "meshlake.yaml"]


def test_config_masks_the_keys_the_iceberg_rest_catalog_hands_out(tmp_path: Path) -> None:
    (tmp_path / "meshlake.yaml").write_text("")
    env = {
        "MESHLAKE_S3_READER_ACCESS_KEY_ID": "reader-key",
        "MESHLAKE_S3_READER_SECRET_ACCESS_KEY": "r3ader-s3cret",
        "MESHLAKE_S3_WRITER_KEYS": "orders=orders-key:w4iter-s3cret",
    }
    found = config(tmp_path, **env)
    assert found["s3_reader_access_key_id"] == ("reader-key", "MESHLAKE_S3_READER_ACCESS_KEY_ID")
    assert found["s3_reader_secret_access_key"] == ("********", "MESHLAKE_S3_READER_SECRET_ACCESS_KEY")
    assert found["s3_writer_keys"] == ("********", "MESHLAKE_S3_WRITER_KEYS")
    assert not any(secret in value for value, _ in found.values() for secret in ("r3ader-s3cret", "w4iter-s3cret"))


GENERATOR = """\
import uuid


def generate(classes, count, seed):
    happened = classes["team.good.v1.Happened"]
    for i in range(count):
        yield "happened", happened(event_id=str(uuid.UUID(int=seed * 1_000_000 + i)), item_id=f"i{i}", amount=i)
"""


def test_a_broken_domain_is_named_and_the_others_run(tmp_path: Path) -> None:
    from tests.fixture_projects import add_domain, make_project, write

    root = make_project(tmp_path / "team")
    good = add_domain(root, "good", "generator: generate\n")
    write(good / "generator.py", GENERATOR)
    add_domain(root, "broken")
    proto = root / "schemas" / "broken" / "v1" / "broken.proto"
    proto.write_text(proto.read_text().replace("string item_id = 2;", "strin item_id = 2;"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}

    done = subprocess.run(
        [str(BIN / "meshlake"), "--project", str(root), "generate", "-n", "20", "--files", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=base | {"COLUMNS": "300"},
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "left out" in line]
    expected = 'team/schemas/broken/v1/broken.proto:12:3: "strin" is not defined. (domain broken, event happened)'
    assert warning.endswith(expected)
    assert len(list((root / ".meshlake" / "landing" / "good" / "happened").iterdir())) == 1
    materialized = subprocess.run(
        [str(BIN / "meshlake"), "--project", str(root), "materialize", "--select", "group:good"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=base | {"COLUMNS": "300"},
        timeout=600,
    )
    assert materialized.returncode == 0, materialized.stderr[-3000:]
    assert "good/bronze/happened" in materialized.stdout
    assert "broken.proto:12:3" in materialized.stderr and "Traceback" not in materialized.stderr
