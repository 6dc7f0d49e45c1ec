"""Earlier versions of the schemas to check against: a directory, or the schema root at a git ref."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.adapters.protobuf.compiler import compile_schemas

GIT_TIMEOUT_S = 120
"""The longest one git command may run (they read a local repository)."""


class SchemaHistoryError(Exception):
    """The earlier version cannot be read (not a git repository, unknown ref, git failed)."""


@dataclass(frozen=True)
class SchemaSnapshot:
    """One version of the schemas, compiled.

    Attributes:
        label: what it was loaded from: a git ref (`v1.2.0`, `HEAD`) or a directory.
        descriptor_set: the compiled files with imports and source info; empty when the ref has no
            schema root yet (every schema is then new).
    """

    label: str
    descriptor_set: FileDescriptorSet


def default_against(schemas_dir: Path) -> str:
    """The ref to check against by default: the last tag reachable from HEAD, else `HEAD`.

    Args:
        schemas_dir: the schema root, inside a git working tree.

    Returns:
        A tag name, or `HEAD` when there is no tag.

    Raises:
        SchemaHistoryError: `schemas_dir` is not inside a git working tree.
    """
    top = _toplevel(schemas_dir)
    result = _git(top, "describe", "--tags", "--abbrev=0", "HEAD", check=False)
    tag = result.stdout.decode().strip()
    return tag if result.returncode == 0 and tag else "HEAD"


def load_snapshot(against: str, schemas: Path | Sequence[Path]) -> SchemaSnapshot:
    """Compile the earlier version of the schemas: every root, with what its files import.

    Args:
        against: a directory holding an earlier version of the first schema root, or a git ref (tag,
            branch, commit).
        schemas: the current schema root(s); for a git ref, each root inside the repository is read at
            that ref (one that did not exist yet is left out), a root outside it (an installed
            package's protos) as it is now.

    Returns:
        The compiled snapshot.

    Raises:
        SchemaHistoryError: `against` is neither a directory nor a ref of the repository.
        SchemaError: the earlier schemas do not compile.
    """
    roots = [Path(schemas)] if isinstance(schemas, str | Path) else [Path(r) for r in schemas]
    if Path(against).is_dir():
        return SchemaSnapshot(against, _compile([Path(against), *roots[1:]]))
    top = _toplevel(roots[0])
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}", check=False)
    if commit.returncode != 0:
        raise SchemaHistoryError(f"--against {against}: neither a directory nor a git ref of {top}")
    sha = commit.stdout.decode().strip()
    inside = {r: r.resolve().relative_to(top).as_posix() for r in roots if r.resolve().is_relative_to(top)}
    present = [
        rel for rel in inside.values() if rel == "." or _git(top, "ls-tree", "-d", sha, "--", rel).stdout.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="meshlake-schemas-") as tmp:
        if present:
            paths = [] if "." in present else ["--", *present]
            archive = _git(top, "archive", "--format=tar", sha, *paths).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tmp, filter="data")
        then = [Path(tmp) / inside[r] if r in inside else r for r in roots if r not in inside or inside[r] in present]
        return SchemaSnapshot(against, _compile(then))


def _compile(roots: list[Path]) -> FileDescriptorSet:
    if not any(any(root.rglob("*.proto")) for root in roots):
        return FileDescriptorSet()  # no schema root at that ref yet
    return compile_schemas(roots).descriptor_set


def _toplevel(schemas_dir: Path) -> Path:
    directory = Path(schemas_dir).resolve()
    if not directory.is_dir():
        raise SchemaHistoryError(f"{schemas_dir}: no such schema directory")
    result = _git(directory, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise SchemaHistoryError(
            f"{schemas_dir} is not inside a git working tree: pass --against DIR with an earlier schema root"
        )
    return Path(result.stdout.decode().strip()).resolve()


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise SchemaHistoryError("git is not installed: pass --against DIR instead of a git ref") from None
    except subprocess.TimeoutExpired:
        raise SchemaHistoryError(f"git {args[0]} did not finish within {GIT_TIMEOUT_S} s") from None
    if check and result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise SchemaHistoryError(f"git {args[0]} failed: {message[-1] if message else result.returncode}")
    return result
