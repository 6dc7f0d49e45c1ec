"""Entity state from events, order-independent: the pure heart of silver upserts and SCD2 history.

Each event type owns some columns of the entity. A change is one conformed event: the entity key,
the columns its type owns and its *version* `(event time, sequence, event id)`. The state of a key
holds, per event type, the owned columns of its newest event and that event's version (`_v_<event>`);
a change replaces them only when its version is newer. Applying changes in any order, in any batches,
with duplicates, gives the same state as applying them all at once in time order.

A version is 24 bytes that sort like the tuple: event time (µs) and sequence as big-endian integers
with the sign bit flipped, then a stable 64-bit hash of the event id, which only breaks ties between
different events of the same time and sequence. Text versions (`time|sequence|event-id`, ~78 bytes)
made up most of a silver table's bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.core.stable_hash import stable_hash64

VERSION = "_v"
EVENT = "_event"
EVENT_TIME = "_event_time"
SEQUENCE = "_sequence"
EVENT_ID = "_event_id"
VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"
_ROW = "__row"
_SIGN = np.uint64(1 << 63)  # flipping it makes signed integers sort as unsigned bytes
_VERSION_BYTES = 24


def version_column(event: str) -> str:
    """The state column holding the version of the newest applied event of `event`."""
    return f"{VERSION}_{event}"


def versions(event_time: pl.Series, sequence: pl.Series, event_id: pl.Series) -> pl.Series:
    """Binary versions that sort like `(event time, sequence, event id)`; null where the time is."""
    words = np.empty((len(event_time), 3), dtype=">u8")
    words[:, 0] = event_time.dt.epoch("us").fill_null(0).to_numpy().view(np.uint64) ^ _SIGN
    words[:, 1] = sequence.cast(pl.Int64).fill_null(0).to_numpy().view(np.uint64) ^ _SIGN
    words[:, 2] = stable_hash64(event_id)
    known = event_time.is_not_null()
    validity = None if known.all() else pa.array(known.to_numpy()).buffers()[1]  # the same bit layout
    packed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(_VERSION_BYTES), len(event_time), [validity, pa.py_buffer(words)]
    )
    return pl.Series(VERSION, packed, dtype=pl.Binary)


def owned_columns(changes: Mapping[str, pl.DataFrame], key: str) -> dict[str, list[str]]:
    """The columns each event type owns: what its changes hold besides the key and change metadata.

    Raises:
        ValueError: a change frame lacks the key, or two event types claim the same column.
    """
    owned: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for event, frame in changes.items():
        if key not in frame.columns:
            raise ValueError(f"the changes of {event} lack the entity key column {key!r}")
        cols = [c for c in frame.columns if c != key and c not in (EVENT_TIME, SEQUENCE, EVENT_ID, VERSION)]
        for column in cols:
            if column in owner:
                raise ValueError(
                    f"column {column!r} is set by both {owner[column]} and {event}; each column has one owner"
                )
            owner[column] = event
        owned[event] = cols
    return owned


def with_versions(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the version `_v` to change rows holding `_event_time`, `_sequence` and `_event_id`."""
    return frame.with_columns(versions(frame[EVENT_TIME], frame[SEQUENCE], frame[EVENT_ID]))


def state_schema(changes: Mapping[str, pl.DataFrame], key: str) -> pl.Schema:
    """The columns of the merged state: key, then each event's owned columns and its version."""
    schema: dict[str, pl.DataType] = {}
    for event, cols in owned_columns(changes, key).items():
        frame = changes[event]
        schema.setdefault(key, frame.schema[key])
        schema |= {c: frame.schema[c] for c in cols}
        schema[version_column(event)] = pl.Binary()
    return pl.Schema(schema)


def _latest(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """The newest change of each key: `frame` itself when no key repeats (most batches), without sorting it."""
    if frame.get_column(key).n_unique() == frame.height:
        return frame
    return frame.sort(VERSION).unique(subset=key, keep="last", maintain_order=True)


def merge_state(current: pl.DataFrame, changes: Mapping[str, pl.DataFrame], key: str) -> pl.DataFrame:
    """The new state of every key in `current` or `changes`.

    Args:
        current: the state rows of (at least) the changed keys, as `merge_state` returned them
            (extra, derived columns are ignored); may be empty.
        changes: per event type, change rows with `_v` (see `with_versions`), the key and owned columns.
        key: the entity key column.

    Returns:
        One row per key, columns as in `state_schema`; a null key is one key, as in `replay_history`.
    """
    schema = state_schema(changes, key)
    if current.height == 0:
        base = pl.DataFrame(schema=schema)
    else:
        base = current.select(
            [pl.col(c).cast(t) if c in current.columns else pl.lit(None, t).alias(c) for c, t in schema.items()]
        )
    new_keys = pl.concat([f.select(key) for f in changes.values()]).unique()
    new_keys = new_keys.join(base.select(key), on=key, how="anti", nulls_equal=True)
    base = pl.concat([base, new_keys], how="diagonal_relaxed")
    for event, cols in owned_columns(changes, key).items():
        frame = changes[event]
        if frame.height == 0:
            continue
        vcol = version_column(event)
        latest = _latest(frame, key).select(key, *[pl.col(c).alias(f"{c}__new") for c in [*cols, VERSION]])
        new_v = pl.col(f"{VERSION}__new")
        take = new_v.is_not_null() & (pl.col(vcol).is_null() | (new_v > pl.col(vcol)))
        base = base.join(latest, on=key, how="left", nulls_equal=True).with_columns(
            [pl.when(take).then(pl.col(f"{c}__new")).otherwise(pl.col(c)).alias(c) for c in cols]
            + [pl.when(take).then(new_v).otherwise(pl.col(vcol)).alias(vcol)]
        )
        base = base.drop([f"{c}__new" for c in [*cols, VERSION]])
    return base.select(schema.names())


def history_events(history: pl.DataFrame, changes: Mapping[str, pl.DataFrame], key: str) -> dict[str, pl.DataFrame]:
    """Turn history rows back into the change rows that made them, per event type.

    Each history row was made by one event (`_event`, its version in `_v_<event>`); its owned
    columns hold that event's values, so the history is a lossless log of the applied events.
    """
    owned = owned_columns(changes, key)
    out: dict[str, pl.DataFrame] = {}
    for event, cols in owned.items():
        schema = changes[event].schema
        if history.height == 0:
            columns = [key, *cols, EVENT_TIME, VERSION]
            out[event] = pl.DataFrame(schema={c: schema[c] for c in columns})
            continue
        rows = history.filter(pl.col(EVENT) == event)
        out[event] = rows.select(
            pl.col(key).cast(schema[key]),
            *[pl.col(c).cast(schema[c]) for c in cols],
            pl.col(VALID_FROM).alias(EVENT_TIME),
            pl.col(version_column(event)).alias(VERSION),
        )
    return out


def replay_history(history: pl.DataFrame, changes: Mapping[str, pl.DataFrame], key: str) -> pl.DataFrame:
    """The SCD2 history of every key in `history` or `changes`: one row per applied event.

    Args:
        history: the current history rows of (at least) the changed keys; may be empty.
        changes: new change rows per event type, with `_v` and `_event_time`.
        key: the entity key column.

    Returns:
        Rows with the state after each event, `valid_from` (its event time), `valid_to` (the next
        event's time, null for the current row), `is_current` and `_event`. Late events slot in
        at their place; the rows after them are recomputed; a duplicate adds nothing.
    """
    owned = owned_columns(changes, key)
    old = history_events(history, changes, key)
    combined = []
    for event in owned:
        rows = pl.concat([old[event], changes[event].select(old[event].columns)], how="vertical_relaxed")
        combined.append(rows.unique(subset=[key, VERSION], keep="first").with_columns(pl.lit(event).alias(EVENT)))
    events = pl.concat(combined, how="diagonal_relaxed").sort([key, VERSION]).with_row_index(_ROW)
    spine = events.select(_ROW, key, EVENT, VERSION, EVENT_TIME)
    for event, cols in owned.items():
        index = f"{_ROW}_{event}"
        spine = spine.with_columns(
            pl.when(pl.col(EVENT) == event).then(pl.col(_ROW)).otherwise(None).forward_fill().over(key).alias(index)
        )
        values = events.filter(pl.col(EVENT) == event).select(
            pl.col(_ROW).alias(index), *cols, pl.col(VERSION).alias(version_column(event))
        )
        spine = spine.join(values, on=index, how="left").drop(index)
    schema = state_schema(changes, key)
    return (
        spine.sort(_ROW)
        .with_columns(
            pl.col(EVENT_TIME).alias(VALID_FROM),
            pl.col(EVENT_TIME).shift(-1).over(key).alias(VALID_TO),
        )
        .with_columns(pl.col(VALID_TO).is_null().alias(IS_CURRENT))
        .select(*schema.names(), VALID_FROM, VALID_TO, IS_CURRENT, EVENT)
    )
