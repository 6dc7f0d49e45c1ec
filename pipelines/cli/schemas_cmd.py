"""`meshlake schemas`: governance of the .proto contracts (`check` refuses breaking changes)."""

from __future__ import annotations

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
    schemas_dir: Annotated[Path, typer.Option("--schemas", metavar="DIR", help="The schema root to check.")] = Path(
        "schemas"
    ),
) -> None:
    """Refuse breaking schema changes (buf WIRE_JSON rules plus table rules), one line per problem.

    Exits 0 when the schemas are compatible, 1 when a change breaks a rule or a field has no table
    mapping (a proto2 group), 2 when a version cannot be read or compiled.
    """
    from pipelines.adapters.protobuf.compiler import SchemaError, compile_schemas
    from pipelines.adapters.protobuf.schema_history import SchemaHistoryError, default_against, load_snapshot
    from pipelines.core.schema_rules import DEFAULT_IGNORED_PREFIXES, check_compatibility
    from pipelines.core.schema_support import unsupported_constructs
    from pipelines.core.schema_version import iter_types

    try:
        new = compile_schemas(schemas_dir).descriptor_set
        ref = against if against is not None else default_against(schemas_dir)
        old = load_snapshot(ref, schemas_dir)
    except (SchemaError, SchemaHistoryError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    prefix = f"{_display(schemas_dir)}/"
    violations = check_compatibility(old.descriptor_set, new, file_prefix=prefix)
    unsupported = unsupported_constructs(new, file_prefix=prefix)
    for violation in [*violations, *unsupported]:
        typer.echo(str(violation))
    if violations or unsupported:
        counts = [f"{len(violations)} breaking change(s) against {ref}"] if violations else []
        counts += [f"{len(unsupported)} construct(s) no table can hold"] if unsupported else []
        typer.echo("; ".join(counts), err=True)
        raise typer.Exit(1)
    files = {f.name for f in new.file if not f.name.startswith(DEFAULT_IGNORED_PREFIXES)}
    types = [t for t in iter_types(new) if t.file.name in files and not _is_map_entry(t.proto)]
    typer.echo(f"schemas OK against {ref}: {len(files)} files, {len(types)} messages and enums compatible")


def _is_map_entry(proto: DescriptorProto | EnumDescriptorProto) -> bool:
    from google.protobuf.descriptor_pb2 import DescriptorProto

    return isinstance(proto, DescriptorProto) and bool(proto.options.map_entry)


def _display(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    resolved = path.resolve()
    if resolved.is_relative_to(Path.cwd()):
        return os.path.relpath(resolved).replace(os.sep, "/")
    return str(resolved)
