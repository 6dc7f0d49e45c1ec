"""Turn raw wire values (uint64 varints, fixed-width bytes, byte ranges) into typed Arrow arrays, vectorised.

Every conversion is a few Arrow kernels over a whole column: varints are truncated and
zigzag-decoded with bit operations, fixed-width values are reinterpreted in place, and strings
are cut out of the batch buffer by a compiled loop (no Python object per value).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.descriptor import FieldDescriptor

from pipelines.core.fast_decode_scan import gather_bytes
from pipelines.core.fast_decode_wire import I32, I64, U64, Wire

F = FieldDescriptor
_LOW32 = pa.scalar(0xFFFFFFFF, U64)
LARGE_BINARY = 1 << 31
"""From this many bytes of values a binary array needs 64-bit offsets."""


def varint_values(ptype: int, raw: pa.Array) -> pa.Array:
    """The values of varint-encoded fields of protobuf type `ptype` (enums: their int32 numbers)."""
    if ptype in (F.TYPE_INT64,):
        return raw.view(I64)
    if ptype == F.TYPE_UINT64:
        return raw
    if ptype == F.TYPE_BOOL:
        return pc.not_equal(raw, pa.scalar(0, U64))
    if ptype == F.TYPE_SINT64:
        return _unzigzag(raw).view(I64)
    low = pc.cast(pc.bit_wise_and(raw, _LOW32), pa.uint32())
    if ptype == F.TYPE_UINT32:
        return low
    if ptype == F.TYPE_SINT32:
        return _unzigzag(low).view(I32)
    return low.view(I32)  # int32, enum: upb keeps the low 32 bits


def _unzigzag(raw: pa.Array) -> pa.Array:
    one = pa.scalar(1, raw.type)
    sign = pc.subtract(pa.scalar(0, raw.type), pc.bit_wise_and(raw, one))  # 0 or all ones (wraps)
    return pc.bit_wise_xor(pc.shift_right(raw, one), sign)


_FIXED: dict[int, tuple[int, pa.DataType]] = {
    F.TYPE_FIXED32: (4, pa.uint32()),
    F.TYPE_SFIXED32: (4, I32),
    F.TYPE_FLOAT: (4, pa.float32()),
    F.TYPE_FIXED64: (8, U64),
    F.TYPE_SFIXED64: (8, I64),
    F.TYPE_DOUBLE: (8, pa.float64()),
}


def fixed_values(wire: Wire, ptype: int, pos: pa.Array) -> pa.Array:
    """The little-endian fixed-width values starting at `pos`: their bytes, reinterpreted in place."""
    width, typ = _FIXED[ptype]
    if len(pos) == 0:
        return pa.array([], typ)
    data = gather(wire, pos, np.full(len(pos), width, np.int64))
    values = pa.Array.from_buffers(typ, len(pos), [None, data.buffers()[2]], offset=0)
    return _quiet_nans(values) if ptype == F.TYPE_FLOAT else values


def _quiet_nans(values: pa.Array) -> pa.Array:
    """Set the quiet bit of float NaNs, as the reference's float -> Python float -> float32 trip does."""
    nan = pc.is_nan(values)
    if not pc.any(nan).as_py():
        return values
    bits = values.view(pa.uint32())
    quiet = pc.if_else(nan, pc.bit_wise_or(bits, pa.scalar(0x0040_0000, pa.uint32())), bits)
    return quiet.view(pa.float32())


def fixed_width(ptype: int) -> int:
    return _FIXED[ptype][0]


def gather(wire: Wire, pos: pa.Array, length: pa.Array | npt.NDArray[np.int64]) -> pa.Array:
    """Binary values `data[pos:pos+length]` for each row, copied out of the batch buffer in one compiled pass."""
    lengths = length if isinstance(length, np.ndarray) else pc.cast(length, I64).to_numpy()
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = pa.allocate_buffer(int(offsets[-1]))
    gather_bytes(wire.buf, pos.to_numpy(), offsets, np.frombuffer(data, np.uint8))
    if offsets[-1] < LARGE_BINARY:
        return pa.Array.from_buffers(pa.binary(), len(pos), [None, pa.py_buffer(offsets.astype(np.int32)), data])
    large = pa.Array.from_buffers(pa.large_binary(), len(pos), [None, pa.py_buffer(offsets), data])
    return pc.cast(large, pa.binary())  # past Arrow's 2 GiB per binary array: refused as the reference is


def text_values(wire: Wire, pos: pa.Array, length: pa.Array, string: bool) -> tuple[pa.Array, pa.Array | None]:
    """String or bytes values; for strings also the rows whose bytes are not UTF-8 (upb rejects those)."""
    values = gather(wire, pos, scanned_lengths(length))
    if not string:
        return values, None
    text = values.view(pa.string())
    data = values.buffers()[2]
    if data is None or np.frombuffer(data, np.uint8).max(initial=0) < 0x80:
        return text, None  # ASCII is UTF-8; checking that is ~5x quicker than Arrow's full UTF-8 validation
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return text, _invalid_utf8(values)
    return text, None


def scanned_lengths(length: pa.Array) -> pa.Array:
    """Lengths of length-delimited values as int64: the scan keeps only those that fit their message
    (far below 2**63), so uint64 ones are reinterpreted rather than cast with an overflow check."""
    return length.view(I64) if length.type == U64 else pc.cast(length, I64)


def _invalid_utf8(values: pa.Array) -> pa.Array:
    """Indexes of non-UTF-8 values; only non-ASCII values are looked at one by one."""
    suspects = pc.indices_nonzero(pc.invert(pc.string_is_ascii(values.view(pa.string())))).to_pylist()
    bad = []
    for index in suspects:
        try:
            values[index].as_py().decode("utf-8")
        except UnicodeDecodeError:
            bad.append(index)
    return pa.array(bad, I64)


def enum_names(numbers: pa.Array, names: tuple[tuple[int, str], ...]) -> pa.Array:
    """Enum value names; a number without a name becomes its decimal text, like the reference."""
    known = pa.array([n for n, _ in names], I32)
    idx = pc.index_in(numbers, value_set=known)
    named = pc.take(pa.array([s for _, s in names], pa.string()), idx)
    if named.null_count == 0:
        return named
    return pc.coalesce(named, pc.cast(numbers, pa.string()))


def unknown_enums(numbers: pa.Array, names: tuple[tuple[int, str], ...]) -> pa.Array:
    """Indexes of numbers the enum does not name."""
    return pc.indices_nonzero(pc.invert(pc.is_in(numbers, value_set=pa.array([n for n, _ in names], I32))))


_TS_MIN, _TS_MAX = -62_135_596_800, 253_402_300_799
_DURATION_MAX = 315_576_000_000
_MAX_NANOS = 999_999_999


def timestamp_micros(seconds: pa.Array, nanos: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Microseconds since the epoch, and which rows are out of Timestamp's range (the reference's rule)."""
    wrong = pc.or_(
        pc.or_(pc.less(seconds, _TS_MIN), pc.greater(seconds, _TS_MAX)),
        pc.or_(pc.less(nanos, 0), pc.greater(nanos, _MAX_NANOS)),
    )
    safe_nanos = pc.cast(pc.max_element_wise(nanos, 0), I64)
    micros = pc.add(pc.multiply(seconds, 1_000_000), pc.divide(safe_nanos, 1000))
    return micros.view(pa.timestamp("us", tz="UTC")), wrong


def duration_micros(seconds: pa.Array, nanos: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Microseconds (nanos truncated toward zero), and which rows break Duration's range or sign rule."""
    nanos64 = pc.cast(nanos, I64)
    wrong = pc.or_(
        pc.or_(
            pc.or_(pc.less(seconds, -_DURATION_MAX), pc.greater(seconds, _DURATION_MAX)),
            pc.greater(pc.abs(nanos64), _MAX_NANOS),
        ),
        pc.or_(
            pc.and_(pc.greater(seconds, 0), pc.less(nanos64, 0)),
            pc.and_(pc.less(seconds, 0), pc.greater(nanos64, 0)),
        ),
    )
    toward_zero = pc.multiply(pc.divide(pc.abs(nanos64), 1000), pc.sign(nanos64))
    micros = pc.add(pc.multiply(seconds, 1_000_000), toward_zero)
    return micros.view(pa.duration("us")), wrong
