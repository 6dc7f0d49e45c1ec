"""Runtime .proto compilation with protoc into a descriptor pool, message classes and meshlake options."""

from __future__ import annotations

import difflib
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pb2 import DescriptorProto, FileDescriptorProto, FileDescriptorSet
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from pipelines.core.proto_schema import WELL_KNOWN_TYPES, EventOptions, is_map, is_struct

_EVENT_EXTENSION = "meshlake.event"
_FIELD_EXTENSION = "meshlake.field"
_MAX_ERRORS = 5
_MAX_KNOWN = 30
_CACHE_SIZE = 32
PLATFORM_PROTO_DIR = Path(__file__).resolve().parents[2] / "proto"
"""meshlake's own .proto files (`meshlake/options.proto`), on every include path: users import, never copy, them."""
# FileDescriptorProto.message_type, DescriptorProto.field, DescriptorProto.nested_type
_MESSAGE_TYPE, _FIELD, _NESTED_TYPE = 4, 2, 3


class SchemaError(Exception):
    """A schema problem; `str()` is one line naming the file (and line) and what is wrong."""


class SchemaCompileError(SchemaError):
    """protoc refused a .proto file (syntax error, unknown type, missing import)."""


class UnknownMessageError(SchemaError):
    """A message name that none of the compiled files defines."""


@dataclass(frozen=True)
class CompiledSchemas:
    """The .proto files under the schema roots, compiled into a descriptor pool.

    Attributes:
        roots: absolute schema roots (protoc include paths, before meshlake's own and protoc's bundled ones).
        descriptor_set: every compiled file and its imports, with source info (comments).
        pool: a private descriptor pool holding `descriptor_set`.
    """

    roots: tuple[Path, ...]
    descriptor_set: FileDescriptorSet
    pool: DescriptorPool

    @property
    def root(self) -> Path:
        """The first schema root (the one most projects have)."""
        return self.roots[0]

    def source_path(self, file_name: str) -> str:
        """Where a compiled file (`orders/v1/orders.proto`) lies, as a user finds it (`schemas/orders/...`).

        A file of no root (the well-known types, meshlake's options) keeps its import name.
        """
        root = next((r for r in self.roots if (r / file_name).is_file()), None)
        return _display(root / file_name) if root is not None else file_name

    def descriptor(self, full_name: str) -> Descriptor:
        """The descriptor of a message, e.g. `meshlake.orders.v1.OrderPlaced`.

        Raises:
            UnknownMessageError: no compiled file defines the message.
        """
        try:
            return self.pool.FindMessageTypeByName(full_name)
        except KeyError:
            raise self._unknown(full_name) from None

    def message_class(self, full_name: str) -> type[Message]:
        """The runtime message class of a message.

        Raises:
            UnknownMessageError: no compiled file defines the message.
        """
        cls: type[Message] = GetMessageClass(self.descriptor(full_name))
        return cls

    def messages(self) -> list[str]:
        """Full names of every message defined in a file under `root` (nested ones too, no map entries)."""
        return list(self._local_messages)

    def comments(self, full_name: str) -> dict[str, str]:
        """Comments of a message and its fields, for column docs.

        Returns:
            Dotted field path (`items.sku`, `counts.value.x`) -> leading comment (the trailing one
            when there is none); the key "" holds the message's own comment. Only commented
            elements appear.

        Raises:
            UnknownMessageError: no compiled file defines the message.
        """
        descriptor = self.descriptor(full_name)
        index = self._comment_index
        out: dict[str, str] = {}
        if index.get(full_name):
            out[""] = index[full_name]

        def walk(message: Descriptor, prefix: str, stack: tuple[str, ...]) -> None:
            for field in message.fields:
                path = prefix + field.name
                if index.get(field.full_name):
                    out[path] = index[field.full_name]
                target = field.message_type
                if target is None or target.full_name in stack or target.full_name in WELL_KNOWN_TYPES:
                    continue
                if is_struct(field) or is_map(field):
                    walk(target, f"{path}.", (*stack, target.full_name))

        walk(descriptor, "", (full_name,))
        return out

    def event_options(self, full_name: str) -> EventOptions:
        """The `(meshlake.event)` option of a message; all None when it does not set it.

        Raises:
            UnknownMessageError: no compiled file defines the message.
        """
        descriptor = self.descriptor(full_name)
        options = self._extension(descriptor.GetOptions(), "google.protobuf.MessageOptions", _EVENT_EXTENSION)
        if options is None:
            return EventOptions()
        values = {f: getattr(options, f) or None for f in ("event_id", "entity_key", "event_time", "partition")}
        return EventOptions(**values)

    def field_pii(self, full_name: str) -> dict[str, str]:
        """Top-level field name -> PII class (`PII_PSEUDONYMOUS`, ...) of fields classified as PII.

        Fields without `(meshlake.field).pii`, or with `PII_NONE`, are left out.

        Raises:
            UnknownMessageError: no compiled file defines the message.
        """
        out: dict[str, str] = {}
        for field in self.descriptor(full_name).fields:
            options = self._extension(field.GetOptions(), "google.protobuf.FieldOptions", _FIELD_EXTENSION)
            if options is not None and options.pii:
                pii = options.DESCRIPTOR.fields_by_name["pii"].enum_type.values_by_number.get(options.pii)
                out[field.name] = pii.name if pii is not None else str(options.pii)
        return out

    @cached_property
    def recursion_depths(self) -> dict[str, int]:
        """Full field name -> its `(meshlake.field).recursion_depth`, for every field that sets one."""
        found: dict[str, int] = {}
        for file in self.descriptor_set.file:
            for _, name, message in _messages(file):
                for field in message.field:
                    if not field.options.ByteSize():
                        continue
                    fd = self.pool.FindFieldByName(f"{name}.{field.name}")
                    options = self._extension(fd.GetOptions(), "google.protobuf.FieldOptions", _FIELD_EXTENSION)
                    if options is not None and options.recursion_depth > 0:
                        found[f"{name}.{field.name}"] = int(options.recursion_depth)
        return found

    def _extension(self, options: Message, options_type: str, extension_name: str) -> Message | None:
        # Options are parsed by the default pool, where meshlake's extensions are unknown fields:
        # re-parse their bytes with this pool's options class, which knows the extension.
        try:
            extension = self.pool.FindExtensionByName(extension_name)
            cls = GetMessageClass(self.pool.FindMessageTypeByName(options_type))
        except KeyError:
            return None
        parsed = cls.FromString(options.SerializeToString())
        if not parsed.HasExtension(extension):
            return None
        value: Message = parsed.Extensions[extension]
        return value

    def _unknown(self, full_name: str) -> UnknownMessageError:
        known = self.messages()
        close = difflib.get_close_matches(full_name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        shown = ", ".join(known[:_MAX_KNOWN]) + (
            f", ... ({len(known) - _MAX_KNOWN} more)" if len(known) > _MAX_KNOWN else ""
        )
        return UnknownMessageError(
            f"unknown message {full_name!r} in {_shown_roots(self.roots)}{hint}; known: {shown or '(none)'}"
        )

    @cached_property
    def _local_messages(self) -> list[str]:
        names: list[str] = []
        for file in self.descriptor_set.file:
            if any((root / file.name).is_file() for root in self.roots):
                for _, name, message in _messages(file):
                    if not message.options.map_entry:
                        names.append(name)
        return sorted(names)

    @cached_property
    def _comment_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for file in self.descriptor_set.file:
            locations = {tuple(loc.path): loc for loc in file.source_code_info.location}
            for path, name, message in _messages(file):
                for element_path, element in [(path, name)] + [
                    ((*path, _FIELD, i), f"{name}.{f.name}") for i, f in enumerate(message.field)
                ]:
                    loc = locations.get(element_path)
                    text = (loc.leading_comments or loc.trailing_comments) if loc is not None else ""
                    if text.strip():
                        index[element] = "\n".join(line.strip() for line in text.strip().splitlines())
        return index


def compile_schemas(roots: Path | Sequence[Path], files: Sequence[str] | None = None) -> CompiledSchemas:
    """Compile .proto files under the schema roots with protoc (grpc_tools) into a private descriptor pool.

    Imports resolve against the roots in order, then meshlake's own protos (`meshlake/options.proto`),
    then protoc's bundled `google/protobuf/*.proto`, then those of installed Python packages
    (`installed_proto_roots`). Results are cached in-process by roots, file list
    and the content of every .proto under the roots.

    Args:
        roots: the schema root(s), e.g. `schemas` (the settings' `schemas`).
        files: .proto paths relative to a root; default every `*.proto` under every root.

    Returns:
        The compiled schemas.

    Raises:
        SchemaError: the roots hold no .proto file.
        SchemaCompileError: a file is missing or protoc rejects it (protoc's messages, one line).
    """
    bases = tuple(Path(r).resolve() for r in ([roots] if isinstance(roots, str | Path) else roots))
    if not bases:
        raise SchemaError("no schema root given")
    sources = {
        p.relative_to(base).as_posix(): base for base in reversed(bases) for p in base.rglob("*.proto") if p.is_file()
    }  # a file of an earlier root shadows the same path of a later one, as protoc's include order does
    wanted = sorted(set(files)) if files is not None else sorted(sources)
    if not wanted:
        raise SchemaError(f"{_shown_roots(bases)}: no .proto files")
    missing = [f for f in wanted if f not in sources]
    if missing:
        raise SchemaCompileError(f"{_display(bases[0])}/{missing[0]}: no such .proto file")
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + (sources[name] / name).read_bytes() + b"\0")
    key = (tuple(str(b) for b in bases), tuple(wanted), digest.hexdigest())
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    compiled = _compile(bases, [(sources[f], f) for f in wanted])
    with _LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
    return compiled


_LOCK = threading.Lock()
PROTOC_TIMEOUT_S = 300
"""The longest protoc may run (a project's schemas compile in about a second): it never blocks its caller for good."""
_CACHE: dict[tuple[tuple[str, ...], tuple[str, ...], str], CompiledSchemas] = {}


def _compile(bases: tuple[Path, ...], files: list[tuple[Path, str]]) -> CompiledSchemas:
    # protoc runs in a subprocess: in-process grpc_tools.protoc.main writes errors to the process's
    # fd 2, which cannot be captured without redirecting every thread's stderr.
    bundled = str(resources.files("grpc_tools") / "_proto")
    includes = [*(_display(b) for b in bases), str(PLATFORM_PROTO_DIR), bundled, *installed_proto_roots()]
    with tempfile.TemporaryDirectory(prefix="meshlake-protoc-") as tmp:
        out = Path(tmp) / "descriptors.pb"
        args = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            *(f"--proto_path={path}" for path in dict.fromkeys(includes)),
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *(f"{_display(base)}/{name}" for base, name in files),
        ]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=PROTOC_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SchemaCompileError(f"protoc did not finish within {PROTOC_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not out.is_file():
            raise SchemaCompileError(_protoc_message(proc.stderr, _shown_roots(bases)))
        descriptor_set = FileDescriptorSet.FromString(out.read_bytes())
    pool = DescriptorPool()
    for file in descriptor_set.file:  # --include_imports lists dependencies first
        pool.Add(file)
    return CompiledSchemas(roots=bases, descriptor_set=descriptor_set, pool=pool)


def installed_proto_roots() -> list[str]:
    """Where installed Python packages keep their .proto files (site-packages), searched last.

    Packages ship their protos beside their code (googleapis-common-protos: `google/type/money.proto`),
    so a schema imports them by the same path as in their repository, as with protoc's own include path.
    """
    paths = sysconfig.get_paths()
    return [p for p in dict.fromkeys((paths["purelib"], paths["platlib"])) if Path(p).is_dir()]


def _protoc_message(stderr: str, shown: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "warning:" not in line] or lines
    if not errors:
        return f"{shown}: protoc failed without a message"
    text = "; ".join(errors[:_MAX_ERRORS])
    if len(errors) > _MAX_ERRORS:
        text += f"; ... ({len(errors) - _MAX_ERRORS} more errors)"
    return text


def _messages(file: FileDescriptorProto) -> Iterator[tuple[tuple[int, ...], str, DescriptorProto]]:
    """(source path, full name, proto) of every message of a file, nested ones too."""
    package = file.package

    def walk(
        messages: Sequence[DescriptorProto], path: tuple[int, ...], scope: str
    ) -> Iterator[tuple[tuple[int, ...], str, DescriptorProto]]:
        for i, message in enumerate(messages):
            here, name = (*path, i), f"{scope}{message.name}"
            yield here, name, message
            yield from walk(message.nested_type, (*here, _NESTED_TYPE), f"{name}.")

    yield from walk(file.message_type, (_MESSAGE_TYPE,), f"{package}." if package else "")


def _display(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _shown_roots(roots: Sequence[Path]) -> str:
    return ", ".join(f"{_display(r)}/" for r in roots)
