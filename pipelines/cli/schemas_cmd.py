"""`meshlake schemas`: governance of the .proto contracts (`check` refuses breaking changes)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from google.protobuf.descriptor_pb2 import DescriptorProto, EnumDescriptorProto

app = typer.Typer(
    help="Govern the .proto schemas that are meshlake's contracts.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def schemas() -> None:
    """Govern the .proto schemas that are meshlake's contracts."""


@app.command()
def check(
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="GIT_REF_OR_DIR",
            help="Earlier schemas: a directory, or a git ref (default: the last tag, else HEAD).",
        ),
    ] = None,
    schemas_dirs: Annotated[
        list[Path] | None,
        typer.Option(
            "--schemas", metavar="DIR", help="A schema root to check (repeatable; default: the project's roots)."
        ),
    ] = None,
) -> None:
    """Refuse breaking schema changes (buf WIRE_JSON rules plus table rules), one line per problem.

    Every file under every schema root is compared, and every file they import from any root (the
    whole import closure); a root outside the git repository (an installed package's protos) is
    compared as it is now. Exits 0 when the schemas are compatible, 1 when a change breaks a rule or
    a field has no table mapping (a proto2 group), 2 when a version cannot be read or compiled.
    """
    from dataclasses import replace

    from pipelines.adapters.protobuf.compiler import SchemaError, compile_schemas
    from pipelines.adapters.protobuf.schema_history import SchemaHistoryError, default_against, load_snapshot
    from pipelines.core.schema_rules import DEFAULT_IGNORED_PREFIXES, check_compatibility
    from pipelines.core.schema_support import unsupported_constructs
    from pipelines.core.schema_version import iter_types
    from pipelines.logs import say

    roots = schemas_dirs or _project_roots()
    try:
        compiled = compile_schemas(roots)
        ref = against if against is not None else default_against(roots[0])
        old = load_snapshot(ref, roots)
    except (SchemaError, SchemaHistoryError) as exc:
        say(str(exc), logging.ERROR)
        raise typer.Exit(2) from None
    new = compiled.descriptor_set
    first = f"{_display(roots[0])}/"

    def located(name: str) -> str:
        found = compiled.source_path(name)
        return found if found != name else first + name  # a file deleted since: where the first root had it

    violations = [replace(v, file=located(v.file)) for v in check_compatibility(old.descriptor_set, new)]
    unsupported = [replace(v, file=located(v.file)) for v in unsupported_constructs(new)]
    for violation in [*violations, *unsupported]:
        typer.echo(str(violation))
    if violations or unsupported:
        counts = [f"{len(violations)} breaking change(s) against {ref}"] if violations else []
        counts += [f"{len(unsupported)} construct(s) no table can hold"] if unsupported else []
        say("; ".join(counts))
        raise typer.Exit(1)
    files = {f.name for f in new.file if not f.name.startswith(DEFAULT_IGNORED_PREFIXES)}
    types = [t for t in iter_types(new) if t.file.name in files and not _is_map_entry(t.proto)]
    typer.echo(f"schemas OK against {ref}: {len(files)} files, {len(types)} messages and enums compatible")


def _project_roots() -> list[Path]:
    """The project's schema roots; `schemas` in the working directory when there is no project."""
    from pipelines.cli import context
    from pipelines.settings import SettingsError

    try:
        roots = list(context.settings().schemas)
    except SettingsError:
        roots = []
    return roots or [Path("schemas")]


def _is_map_entry(proto: DescriptorProto | EnumDescriptorProto) -> bool:
    from google.protobuf.descriptor_pb2 import DescriptorProto

    return isinstance(proto, DescriptorProto) and bool(proto.options.map_entry)


def _display(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    resolved = path.resolve()
    if resolved.is_relative_to(Path.cwd()):
        return os.path.relpath(resolved).replace(os.sep, "/")
    return str(resolved)
