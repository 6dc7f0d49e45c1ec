"""Loads the project from disk: every `domains/<name>/domain.yaml`, its transforms and generator."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.core.domain import Domain, spec_functions
from pipelines.core.spec import DomainSpec, mesh_problems

PROJECT_DIR = Path(__file__).resolve().parent.parent


class SpecError(Exception):
    """A domain spec is invalid; the message names the file and the key."""


def _format_validation(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "<root>"
        problems.append(f"{path}: {loc}: {item['msg']}")
    return "; ".join(problems)


def load_domain(domain_dir: Path, package: str | None = None) -> Domain:
    """Load and validate one domain folder.

    Args:
        domain_dir: folder holding `domain.yaml` and `transforms.py`.
        package: the importable package of the folder (default `domains.<folder name>`).

    Raises:
        SpecError: the YAML is unreadable or invalid, or it names a function that does not exist.
    """
    path = domain_dir / "domain.yaml"
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: missing domain spec") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    try:
        spec = DomainSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_validation(path, exc)) from exc
    if spec.name != domain_dir.name:
        raise SpecError(f"{path}: name: {spec.name!r} differs from its folder {domain_dir.name!r}")

    package = package or f"domains.{domain_dir.name}"
    wanted = spec_functions(spec)
    transforms = {}
    if wanted:
        module = importlib.import_module(f"{package}.transforms")
        for key, name in wanted.items():
            func = getattr(module, name, None)
            if not callable(func):
                raise SpecError(f"{path}: {key}: no function {name!r} in {module.__name__}")
            transforms[name] = func
    generator = None
    if spec.generator:
        gen_module = importlib.import_module(f"{package}.generator")
        generator = getattr(gen_module, spec.generator, None)
        if not callable(generator):
            raise SpecError(f"{path}: generator: no function {spec.generator!r} in {gen_module.__name__}")
    return Domain(spec=spec, transforms=transforms, generator=generator)


def load_domains(root: Path | None = None) -> list[Domain]:
    """Load every domain under `root` (default: the project's `domains/`), sorted by name.

    Raises:
        SpecError: a spec is invalid, or a product reads a product that does not exist or is not
            granted to its domain.
    """
    root = root or PROJECT_DIR / "domains"
    dirs = sorted(p for p in root.iterdir() if (p / "domain.yaml").exists())
    domains = [load_domain(d) for d in dirs]
    if problems := mesh_problems(d.spec for d in domains):
        raise SpecError(f"{root}: " + "; ".join(problems))
    return domains
