"""`meshlake domain new`: a working domain in a project (spec, .proto, transforms, generator, tests)."""

from __future__ import annotations

from pathlib import Path

from pipelines.core.names import check_identifier
from pipelines.scaffold.new_project import ScaffoldError
from pipelines.scaffold.render import render, templates


def new_domain(name: str, domains_dir: Path, schemas_dir: Path) -> list[Path]:
    """Write the domain `name`: `<domains_dir>/<name>/` and its schemas in `<schemas_dir>/<name>/v1/`.

    Args:
        name: the domain's name, a lower-case identifier.
        domains_dir: the project's folder of domains.
        schemas_dir: the project's (first) folder of .proto files.

    Returns:
        The files written.

    Raises:
        ValueError: `name` is not a lower-case identifier.
        ScaffoldError: the domain's folder or its schemas folder exists already.
    """
    check_identifier(name, "domain name")
    for folder in (domains_dir / name, schemas_dir / name):
        if folder.exists():
            raise ScaffoldError(f"{folder}: exists already (pick another name, or remove it)")
    values = {"name": name}
    written = render(templates("domain", "domains"), domains_dir, values)
    written += render(templates("domain", "schemas"), schemas_dir, values)
    # the domains folder as a package: the domain's tests import its transforms relatively
    written += render(templates("project", "domains"), domains_dir, {}, keep_existing=True)
    return written
