"""Loads a project's domains from its folder: every `<domains>/<name>/domain.yaml`, its transforms and generator.

A domain's Python files are imported by path, under a package name of their own per project
(`meshlake_project_<digest>.<domain>`), so a team's project needs no importable package, two projects
never collide in one process, and a domain's relative imports (`from ..world import ...`, a shared
module beside the domains) work. One domain that fails to load is left out with a `DomainProblem`
naming it and the file; the others load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.core.domain import Domain, spec_functions
from pipelines.core.lineage import unknown_inputs
from pipelines.core.spec import DomainSpec, mesh_problems
from pipelines.settings import Settings

SPEC_FILE = "domain.yaml"


class SpecError(Exception):
    """A domain spec is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class DomainProblem:
    """Why a domain was left out: its name, the file (and line, where known) and what is wrong."""

    domain: str
    file: Path | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:  # the message starts with its file and line (a .proto's) and names the domain
            return self.message
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


class DomainLoadError(SpecError):
    """A domain failed to load; carries the problem (file, line, message)."""

    def __init__(self, problem: DomainProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc` (keys and indices), or of its nearest parent."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            key_node = next((k for k, _ in node.value if k.value == str(key)), None)
            if match is None or key_node is None:
                break
            line, node = key_node.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def spec_problem(domain_dir: Path, key: tuple[str, ...], message: str) -> DomainProblem:
    """A problem of the domain spec in `domain_dir` at `key` (`("events", "order_placed", "message")`): the
    spec file and the key's line."""
    path = domain_dir / SPEC_FILE
    return DomainProblem(domain_dir.name, path, f"{'.'.join(key)}: {message}", _spec_line(path, key))


def _spec_line(path: Path, key: tuple[str, ...]) -> int | None:
    try:
        return _yaml_line(path.read_text(), key)
    except OSError:
        return None


def _located(loc: tuple[Any, ...], msg: str) -> tuple[tuple[Any, ...], str]:
    """A validation error's key path and message; a spec-wide check names its key in its message
    (`entities.orders.events: unknown event ...`), which becomes the path."""
    msg = msg.removeprefix("Value error, ")
    head, sep, rest = msg.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w]*(\.[\w]+)*", head):
        return (*loc, *head.split(".")), rest
    return tuple(loc), msg


def _read_spec(domain_dir: Path) -> DomainSpec:
    path = domain_dir / SPEC_FILE
    name = domain_dir.name

    def fail(message: str, line: int | None = None) -> DomainLoadError:
        return DomainLoadError(DomainProblem(name, path, message, line))

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise fail("missing domain spec") from None
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise fail(f"not valid YAML: {str(exc).splitlines()[0]}", mark.line + 1 if mark else None) from None
    try:
        spec = DomainSpec.model_validate(raw)
    except ValidationError as exc:
        located = [_located(e["loc"], e["msg"]) for e in exc.errors()]
        parts = [f"{'.'.join(str(p) for p in loc) or '<root>'}: {msg}" for loc, msg in located]
        raise fail("; ".join(parts), _yaml_line(text, located[0][0])) from None
    if spec.name != name:
        raise fail(f"name: {spec.name!r} differs from its folder {name!r}", _yaml_line(text, ("name",)))
    return spec


def _package_for(domains_dir: Path) -> str:
    """The synthetic package of a domains folder, registered once per process."""
    digest = hashlib.sha256(str(domains_dir.resolve()).encode()).hexdigest()[:12]
    name = f"meshlake_project_{digest}"
    if name not in sys.modules:
        _new_package(name, domains_dir)
    return name


def _new_package(name: str, folder: Path) -> ModuleType:
    """Register `name` as a package whose modules are the files of `folder` (running its `__init__.py`)."""
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    else:  # a folder without __init__.py: a package with no code of its own
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    if spec is None:
        raise ImportError(f"{folder}: cannot make a package of it")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import(domain_dir: Path, package: str | None, module: str) -> ModuleType:
    """`<domain>/<module>.py`, imported by path (or from `package` when given)."""
    if package is None:
        parent = _package_for(domain_dir.parent)
        package = f"{parent}.{domain_dir.name}"
        if package not in sys.modules:
            _new_package(package, domain_dir)
    return importlib.import_module(f"{package}.{module}")


def _import_problem(domain_dir: Path, file: str, exc: BaseException) -> DomainProblem:
    """The problem of a failed import: the innermost line of the domain's folder in the traceback."""
    path, line = domain_dir / file, None
    if isinstance(exc, SyntaxError) and exc.filename:
        path, line = Path(exc.filename), exc.lineno
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename).resolve().is_relative_to(domain_dir.parent.resolve()):
                path, line = Path(frame.filename), frame.lineno
    return DomainProblem(domain_dir.name, path, f"{type(exc).__name__}: {exc}", line)


def load_domain(domain_dir: Path, package: str | None = None) -> Domain:
    """Load and validate one domain folder.

    Args:
        domain_dir: folder holding `domain.yaml` and `transforms.py` (and `generator.py`).
        package: an importable package holding the folder's modules; default: they are imported by
            path, under the synthetic package of the folder's parent.

    Raises:
        DomainLoadError: the YAML is unreadable or invalid, a module fails to import, or the spec names
            a function that does not exist (the problem names the domain and the file).
    """
    spec = _read_spec(domain_dir)
    path = domain_dir / SPEC_FILE

    def function(module_name: str, key: str, name: str) -> Any:
        try:
            module = _import(domain_dir, package, module_name)
        except Exception as exc:
            raise DomainLoadError(_import_problem(domain_dir, f"{module_name}.py", exc)) from exc
        func = getattr(module, name, None)
        if not callable(func):
            problem: str | None = f"no function {name!r} in {module_name}.py"
        elif unknown := unknown_inputs(func):
            problem = f"{name} declares column lineage from {unknown[0]!r}, which is none of its parameters"
        else:
            problem = None
        if problem is not None:
            line = _yaml_line(path.read_text(), tuple(key.split(".")))
            raise DomainLoadError(DomainProblem(spec.name, path, f"{key}: {problem}", line))
        return func

    transforms = {name: function("transforms", key, name) for key, name in spec_functions(spec).items()}
    generator = function("generator", "generator", spec.generator) if spec.generator else None
    return Domain(spec=spec, transforms=transforms, generator=generator)


@dataclass(frozen=True)
class Project:
    """A project's domains as loaded: those that loaded, and why the others did not.

    Attributes:
        settings: the settings it was loaded with (`settings.project_dir`, `settings.domains_dir`).
        domains: the domains that loaded, by name (sorted).
        problems: one per problem of a domain left out.
    """

    settings: Settings
    domains: dict[str, Domain] = field(default_factory=dict)
    problems: list[DomainProblem] = field(default_factory=list)

    @classmethod
    def load(cls, where: Settings | Path | str | None = None) -> Project:
        """Load every domain of a project; a domain that fails is left out with its problem.

        Args:
            where: the settings, or a project folder (`Project.load(path)` in tests); default
                `Settings.load()`.

        Raises:
            SettingsError: there is no project, or its settings are invalid.
        """
        settings = where if isinstance(where, Settings) else Settings.load(project=where)
        root = settings.domains_dir
        dirs = [root / name for name in domain_names(root)]
        domains: dict[str, Domain] = {}
        problems: list[DomainProblem] = []
        for folder in dirs:
            try:
                domain = load_domain(folder)
            except DomainLoadError as exc:
                problems.append(exc.problem)
                continue
            domains[domain.name] = domain
        while mesh := mesh_problems(d.spec for d in domains.values()):
            for message in mesh:  # `<domain>.<product>: inputs: ...`: that domain is left out
                head, _, rest = message.partition(": ")
                name, _, product = head.partition(".")
                if name in domains:
                    path = root / name / SPEC_FILE
                    line = _spec_line(path, ("products", product, rest.split(":", 1)[0]))
                    problems.append(DomainProblem(name, path, message, line))
                    del domains[name]
        return cls(settings, domains, problems)

    def problem_text(self) -> str:
        """Every problem, one per line."""
        return "\n".join(str(p) for p in self.problems)


def domain_names(root: Path) -> list[str]:
    """The names of the domains under `root` (folders holding a domain.yaml), sorted, without loading them."""
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file()) if root.is_dir() else []


def load_domains(root: Path) -> list[Domain]:
    """Every domain under `root`, sorted by name; strict: any problem raises.

    Raises:
        SpecError: a domain fails to load, or breaks the mesh's rules (every problem, one per line).
    """
    project = Project.load(Settings(domains=root.resolve()))
    if project.problems:
        raise SpecError(project.problem_text())
    return list(project.domains.values())
