"""Fast decoder: serialized protobuf messages to Arrow column-wise, same contract and output as `decode_payloads`.

Why not the protobuf API: parsing with upb is quick, but reading the parsed messages back costs a
Python object per field per message, which made the reference decoder ~20x slower than writing
the table. Here nothing is parsed per message in Python. All payloads of a batch are ranges of one
buffer (a framed landing file is read in place, `Payloads`); a compiled scan (`fast_decode_scan`,
numba) reads every field of every message in one pass and files the occurrences of each field as
flat arrays; the occurrences of a message field are the messages of the next level, so all
Timestamps or line items of a batch are scanned together (`fast_decode_fields`), and values become
Arrow buffers without passing through Python objects (`fast_decode_values`). Batches are split
across threads, which run in parallel because the compiled kernels and Arrow's release the GIL.

What falls back to the reference decoder, which stays the oracle:
- per row, anything that is not plain well-formed data: decode errors (truncation, bad wire or
  field number, invalid UTF-8), groups, wire types that do not match the field, a singular field
  or oneof set twice in one message (merge semantics), repeated map keys, unknown values of
  closed (proto2) enums, Timestamp/Duration values out of range. Those rows are decoded by
  `decode_payloads` and merged back in order, so rejects and their reasons are the reference's.
- per type, messages the plan refuses (`Unsupported`: proto2 groups or required fields, field
  numbers past 65,535, a schema whose types differ from `arrow_schema`'s, e.g. made with per-field
  recursion depths).
- per batch, batches under `FAST_MIN_ROWS` payloads: there the reference decoder is quicker.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import Message

from pipelines.core.fast_decode_fields import decode_message
from pipelines.core.fast_decode_order import Spans
from pipelines.core.fast_decode_plan import MessagePlan, Unsupported, message_plan
from pipelines.core.fast_decode_wire import I32, I64, Wire, arange
from pipelines.core.framing import Payloads
from pipelines.core.proto_decode import DecodeResult, decode_payloads
from pipelines.core.proto_schema import arrow_schema

FAST_MIN_ROWS = 200
"""Below this many payloads the reference decoder is quicker: the fast path costs ~3 ms per batch."""
PARALLEL_MIN_ROWS = 20_000
"""Below this many payloads a batch is decoded on the calling thread (splitting costs more than it saves)."""
CHUNK_ROWS = 65_536
"""Rows decoded together: bounds the scan's scratch memory (which the allocator tends to keep)."""

_plans: dict[tuple[type[Message], bytes], MessagePlan | None] = {}
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool)
_pool_lock = threading.Lock()


def decode_payloads_fast(
    message_class: type[Message], payloads: Sequence[bytes], schema: pa.Schema | None = None
) -> DecodeResult:
    """Parse serialized messages into an Arrow table: the contract and output of `decode_payloads`.

    Args:
        message_class: the message type of every payload.
        payloads: serialized messages (no length prefix).
        schema: the table schema; default `arrow_schema(message_class.DESCRIPTOR)`. Columns and
            struct children are looked up by name.

    Returns:
        The rows (in payload order), the indexes they came from, and the rejects with the
        reference decoder's one-line reasons.

    Raises:
        ValueError: `schema` names a field the message does not have.
    """
    schema = schema if schema is not None else arrow_schema(message_class.DESCRIPTOR)
    plan = _plan_for(message_class, schema)
    if plan is None or len(payloads) < FAST_MIN_ROWS or not len(schema):  # a table of no columns has no rows
        return decode_payloads(message_class, payloads, schema)
    n = len(payloads)
    if n == 0:
        return DecodeResult(schema.empty_table())
    table, bad = _decode_all(plan, schema, Payloads.join(payloads))
    if not bad:
        return DecodeResult(table, list(range(n)), [])
    return _with_fallback(message_class, schema, payloads, table, bad)


def _plan_for(message_class: type[Message], schema: pa.Schema) -> MessagePlan | None:
    key = (message_class, schema.serialize().to_pybytes())
    if key not in _plans:
        try:
            _plans[key] = message_plan(message_class.DESCRIPTOR, schema)
        except Unsupported:
            _plans[key] = None
    return _plans[key]


def _decode_all(plan: MessagePlan, schema: pa.Schema, payloads: Payloads) -> tuple[pa.Table, list[int]]:
    """Decode in chunks of at most `CHUNK_ROWS`, spread over the cores (the kernels release the GIL)."""
    n = len(payloads)
    cores = min(os.cpu_count() or 1, 8)
    parallel = cores > 1 and n >= PARALLEL_MIN_ROWS
    size = min(-(-n // cores), CHUNK_ROWS) if parallel else CHUNK_ROWS
    starts = range(0, n, size)
    if len(starts) == 1:
        return _decode_chunk(plan, schema, payloads, 0)
    if parallel:
        pool = _executor(cores)
        futures = [pool.submit(_decode_chunk, plan, schema, payloads[s : s + size], s) for s in starts]
        parts = [f.result() for f in futures]
    else:
        parts = [_decode_chunk(plan, schema, payloads[s : s + size], s) for s in starts]
    return pa.concat_tables([t for t, _ in parts]), [i for _, bad in parts for i in bad]


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared decoding threads; a forked child makes its own (it inherits the pool, not its threads)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fast-decode"))
        return _pool[1]


def _decode_chunk(plan: MessagePlan, schema: pa.Schema, payloads: Payloads, first: int) -> tuple[pa.Table, list[int]]:
    """Decode one chunk; returns its table (a row per payload) and the (global) rows to fall back on."""
    wire = Wire.over(payloads.data)
    spans = Spans(pa.array(payloads.starts), pa.array(payloads.ends), arange(len(payloads), I32))
    columns = decode_message(wire, plan, spans, read=True)
    table = pa.Table.from_arrays(columns, schema=schema)
    bad = np.unique(pa.concat_arrays(wire.bad).to_numpy()).tolist() if wire.bad else []
    del wire, spans, columns
    pa.default_memory_pool().release_unused()  # pools keep a thread's freed scratch unless asked there
    return table, [first + i for i in bad]


def _with_fallback(
    message_class: type[Message], schema: pa.Schema, payloads: Sequence[bytes], table: pa.Table, bad: list[int]
) -> DecodeResult:
    """Replace the flagged rows by what the reference decoder makes of them, keeping payload order."""
    n = len(payloads)
    keep = pc.invert(pc.is_in(arange(n), value_set=pa.array(bad, I64)))
    fast = table.filter(keep)
    bad_set = set(bad)
    good = [i for i in range(n) if i not in bad_set]
    reference = decode_payloads(message_class, [payloads[i] for i in bad], schema)
    rejected = [(bad[i], reason) for i, reason in reference.rejected]
    if not reference.accepted:
        return DecodeResult(fast, good, rejected)
    origin = good + [bad[i] for i in reference.accepted]
    order = pc.sort_indices(pa.array(origin, I64))
    merged = pa.concat_tables([fast, reference.table]).take(order)
    return DecodeResult(merged, sorted(origin), rejected)
