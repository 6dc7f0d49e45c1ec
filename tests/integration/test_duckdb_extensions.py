"""Extensions from their wheels: DuckDB checks each file's signature once per process, never loads a tampered
file, and a locked engine loads nothing at all."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipelines.adapters.duckdb import extensions
from pipelines.adapters.duckdb.engine import DuckDbQueryEngine
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, extension_path, load_extension

# typed as duckdb.connect takes its config (a dict is invariant: OFFLINE_CONFIG's own type is narrower)
UNCHECKED: dict[str, str | bool | int | float | list[str]] = {**OFFLINE_CONFIG, "allow_unsigned_extensions": True}
"""`verified_once_config()` once a file was checked in the process: DuckDB itself checks nothing more."""


def _change_a_byte(path: Path) -> None:
    """Change one byte of an extension file where DuckDB still loads it when it does not check the signature
    (a new file in its place, as pip installs one: the loaded file stays mapped)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed = path.with_suffix(".new")
    changed.write_bytes(data)
    changed.replace(path)


def _tampered(tmp_path: Path) -> Path:
    copy = tmp_path / "httpfs.duckdb_extension"
    shutil.copy(extension_path("httpfs"), copy)
    _change_a_byte(copy)
    return copy


def _loaded(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.sql(f"SELECT loaded FROM duckdb_extensions() WHERE extension_name = '{name}'").fetchall()[0][0])


def test_a_tampered_extension_is_refused_by_a_connection_that_skips_rechecks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    load_extension(duckdb.connect(config=UNCHECKED), "httpfs")  # the genuine file, checked
    monkeypatch.setattr(extensions, "extension_path", lambda _name: _tampered(tmp_path))
    con = duckdb.connect(config=UNCHECKED)
    with pytest.raises(duckdb.IOException, match="signature is either missing or invalid"):
        load_extension(con, "httpfs")
    assert not _loaded(con, "httpfs")


def test_an_extension_file_changed_after_its_check_is_checked_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "httpfs.duckdb_extension"
    shutil.copy(extension_path("httpfs"), path)
    monkeypatch.setattr(extensions, "extension_path", lambda _name: path)
    load_extension(duckdb.connect(config=UNCHECKED), "httpfs")  # checked, then loaded
    _change_a_byte(path)
    with pytest.raises(duckdb.IOException, match="signature is either missing or invalid"):
        load_extension(duckdb.connect(config=UNCHECKED), "httpfs")


def test_the_first_engine_of_a_process_has_duckdb_check_what_it_loads(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import duckdb
        from pathlib import Path
        from pipelines.adapters.duckdb import extensions
        from pipelines.adapters.duckdb.engine import DuckDbQueryEngine

        extensions.extension_path = lambda _name: Path({str(_tampered(tmp_path))!r})
        try:
            extensions.load_extension(DuckDbQueryEngine({{}}).connection, "httpfs")
        except duckdb.IOException as exc:
            print(exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "signature is either missing or invalid" in run.stdout, run.stdout + run.stderr


def test_a_locked_engine_loads_no_extension(tmp_path: Path) -> None:
    engine = DuckDbQueryEngine({})
    engine.lock()
    with pytest.raises(duckdb.PermissionException, match="Loading external extensions is disabled"):
        engine.connection.execute(f"LOAD '{_tampered(tmp_path)}'")
