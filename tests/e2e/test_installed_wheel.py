"""meshlake as a team installs it: the wheel built from this checkout's files, installed with the tested
constraints into a fresh venv outside the checkout (not editable, no extras), and run from there.

`installed_bin` is the bin directory of that venv: tests of what a new user does (`meshlake init`,
`domain new`, `materialize`, …) run its executables with `installed_env` in a folder of their own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docs_pages import assert_served_offline
from tests.processes import stopped

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed_wheel")]  # one worker builds and installs


def _run(cmd: list[str | Path], timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _copy_checkout(target: Path) -> None:
    """The checkout's files as a fresh clone would have them, plus new files not yet committed (not ignored)."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():  # a file deleted in the work tree is still listed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """meshlake's wheel, built (`pip wheel`) from a copy of the checkout, so no stale build/ folder leaks in."""
    root = tmp_path_factory.mktemp("wheel")
    _copy_checkout(root / "src")
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []  # faster, same result
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", root / "dist", root / "src"])
    return next((root / "dist").glob("meshlake-*.whl"))


@pytest.fixture(scope="session")
def installed_bin(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    """The bin directory of a fresh venv holding the wheel and its dependencies, pinned by constraints.txt."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    # This venv's pip installs into the new one (--python): no pip of its own to bootstrap, and no
    # bytecode compiled ahead (Python compiles what it imports).
    # Without PYTHONPATH (tests/conftest.py puts this checkout on it): the checkout's meshlake.egg-info would
    # be found on the new venv's path, and pip would take meshlake as installed and install nothing.
    outside = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-compile",
          "-c", REPO / "constraints.txt", built_wheel], env=outside)  # fmt: skip
    return venv / "bin"


@pytest.fixture
def installed_env(installed_bin: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for the installed executables: their venv first on PATH, nothing of this checkout or its
    settings, MESHLAKE_HOME under the test's tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{installed_bin}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["MESHLAKE_HOME"] = str(tmp_path / "home")
    return env


def test_the_wheel_carries_what_the_platform_reads_at_run_time(built_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    assert {
        "catalog/migrations/env.py",
        "catalog/migrations/script.py.mako",
        "catalog/migrations/versions/0001_initial.py",
        "catalog/web/templates/base.html",
        "pipelines/proto/meshlake/options.proto",
    } <= names
    assert not [n for n in names if n.startswith("domains/")], "the sample domains are a project, not the package"
    metadata = zipfile.ZipFile(built_wheel).read(f"{built_wheel.name.split('-py3')[0]}.dist-info/METADATA").decode()
    assert "Provides-Extra: nats" in metadata and "Provides-Extra: postgres" in metadata


def test_meshlake_help_runs_from_the_installed_wheel(installed_bin: Path, installed_env: dict[str, str],
                                                     tmp_path: Path) -> None:  # fmt: skip
    done = _run([installed_bin / "meshlake", "--help"], cwd=tmp_path, env=installed_env)
    assert "Usage" in done.stdout and "Traceback" not in done.stderr


PING_PROTO = """syntax = "proto3";
package ping.v1;
import "meshlake/options.proto";
message Pinged {
  option (meshlake.event) = { event_id: "event_id" entity_key: "host" };
  string event_id = 1;
  string host = 2;
}
"""
FIND_FILES = """
import json, sys
from pathlib import Path
import pipelines, catalog.store.engine as engine
from pipelines.adapters.protobuf.compiler import PLATFORM_PROTO_DIR, compile_schemas
options = compile_schemas(Path(sys.argv[1])).event_options("ping.v1.Pinged")
print(json.dumps({"pipelines": pipelines.__file__, "migrations": str(engine.MIGRATIONS),
                  "options.proto": str(PLATFORM_PROTO_DIR / "meshlake" / "options.proto"), "key": options.entity_key}))
"""


def test_package_files_are_found_in_the_installed_package(installed_bin: Path, installed_env: dict[str, str],
                                                          tmp_path: Path) -> None:  # fmt: skip
    """A team's schema imports meshlake/options.proto from the installed package; the migrations are there."""
    (tmp_path / "schemas" / "ping" / "v1").mkdir(parents=True)
    (tmp_path / "schemas" / "ping" / "v1" / "ping.proto").write_text(PING_PROTO)
    cmd: list[str | Path] = [installed_bin / "python", "-c", FIND_FILES, tmp_path / "schemas"]
    found = json.loads(_run(cmd, cwd=tmp_path, env=installed_env).stdout)
    assert found.pop("key") == "host"
    site = installed_bin.parent / "lib"
    for path in map(Path, found.values()):
        assert path.is_relative_to(site) and path.exists(), f"{path} is not in the installed venv"
    migrations = Path(found["migrations"])
    assert (migrations / "script.py.mako").is_file() and sorted((migrations / "versions").glob("0*.py"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def installed_catalog(installed_bin: Path, installed_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`meshlake catalog serve` of the installed package on a free port, on a new SQLite database."""
    port = _free_port()
    cmd: list[str | Path] = [
        installed_bin / "meshlake",
        "catalog",
        "serve",
        "--port",
        str(port),
        "--db",
        f"sqlite:///{tmp_path}/c.db",
    ]
    log = (tmp_path / "catalog.log").open("w")
    server = subprocess.Popen(cmd, cwd=tmp_path, env=installed_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine starts it slowly
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(f"{url}/api/health", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the catalog did not start:\n{(tmp_path / 'catalog.log').read_text()[-3000:]}")
        yield url
    finally:
        stopped(server)
        log.close()


def test_the_installed_catalog_migrates_and_serves_its_docs_offline(installed_catalog: str) -> None:
    with httpx.Client(base_url=installed_catalog, timeout=30) as http:
        assert http.get("/api/health").json()["schema_revision"]  # migrated by the package's scripts
        for path, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            assert any(url.endswith(script) for url in assert_served_offline(http, path))


def _user(cmd: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a command as a user would and return its output: it succeeds and prints no traceback."""
    done = _run(cmd, cwd=cwd, env=env, timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done.stdout


def test_a_new_project_runs_end_to_end_on_the_installed_wheel(installed_bin: Path, installed_env: dict[str, str],
                                                              tmp_path: Path) -> None:  # fmt: skip
    """The first hour of a new user: init, domain new, validate, generate, materialise, query with DuckDB, the
    domain's own tests, and the project loaded by Dagster as a code location; the sample project too."""
    env = {k: v for k, v in installed_env.items() if k != "MESHLAKE_HOME"}  # the project's own .meshlake
    env |= {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "COLUMNS": "200"}
    (tmp_path / "dagster_home").mkdir()
    meshlake = installed_bin / "meshlake"
    _user([meshlake, "init", "shop"], tmp_path, env)
    project = tmp_path / "shop"
    shutil.copyfile(project / "dagster.yaml", tmp_path / "dagster_home" / "dagster.yaml")

    _user([meshlake, "domain", "new", "inventory"], project, env)
    assert _user([meshlake, "domain", "validate"], project, env).strip() == "OK"
    _user([meshlake, "generate", "--domain", "inventory", "--count", "2000", "--seed", "3"], project, env)
    _user([meshlake, "materialize"], project, env, timeout=900)
    sql = "select count(*) as n, cast(sum(items) as bigint) as items from inventory.daily_items"
    [answer] = json.loads(_user([meshlake, "query", "--format", "json", sql], project, env))
    assert answer["n"] > 0 and answer["items"] > 0, answer
    assert (project / ".meshlake").is_dir()

    _run([sys.executable, "-m", "pip", "--python", installed_bin / "python", "install", "-q", "--no-compile",
          "-c", REPO / "constraints.txt", "pytest"])  # fmt: skip
    assert "2 passed" in _user([installed_bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)

    # Dagster loads the project from its pyproject's [tool.dagster] (meshlake.definitions): no module of its own
    _user([installed_bin / "dagster", "definitions", "validate"], project, env)
    assets = _user([installed_bin / "dagster", "asset", "list", "-m", "meshlake.definitions"], project, env)
    assert "inventory/gold/daily_items" in assets.split(), assets

    _user([meshlake, "init", "demo", "--sample"], tmp_path, env)
    listed = json.loads(_user([meshlake, "domain", "list", "--json"], tmp_path / "demo", env))
    assert [d["domain"] for d in listed["domains"]] == ["orders", "payments", "shipping"], listed
    assert _user([meshlake, "domain", "validate"], tmp_path / "demo", env).strip() == "OK"
    assert not list((tmp_path / "demo").rglob("options.proto"))  # found on the package's include path
