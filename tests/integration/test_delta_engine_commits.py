"""A Delta commit made by another engine (Spark's `userMetadata`) carries meshlake's properties: the watermark a
keyed product's engine write records (`properties_text`) is the one the next build reads."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, write_deltalake

from pipelines.adapters.delta.table_store import DeltaTableStore
from pipelines.core.commits import properties_text
from pipelines.core.names import TableId
from pipelines.services.incremental import UPSTREAM_PROPERTY, last_upstream

TABLE = TableId("orders", "order_facts")


def _engine_append(store: DeltaTableStore, user_metadata: str) -> None:
    """An append as Spark commits it: the commit's only free text is `commitInfo.userMetadata`."""
    write_deltalake(store.location(TABLE), pa.table({"order_id": ["o2"]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": user_metadata}))  # fmt: skip


def test_an_engine_commit_s_user_metadata_holds_its_watermark_and_other_text_holds_none(tmp_path: Path) -> None:
    store = DeltaTableStore(tmp_path)
    store.ensure_table(TABLE, pa.schema([pa.field("order_id", pa.string())]))
    store.append(TABLE, pa.table({"order_id": ["o1"]}), {UPSTREAM_PROPERTY: '{"orders.silver_orders": 1}'})
    _engine_append(store, properties_text({UPSTREAM_PROPERTY: '{"orders.silver_orders": 2}', "meshlake.run_id": "r"}))
    assert store.history(TABLE)[-1].properties == {UPSTREAM_PROPERTY: '{"orders.silver_orders": 2}',
                                                   "meshlake.run_id": "r"}  # fmt: skip
    assert last_upstream(store.history(TABLE)) == {"orders.silver_orders": 2}

    for text in ("job=nightly", '{"owner": "team"}', "[1]", "{not json"):  # another writer's notes
        _engine_append(store, text)
        assert store.history(TABLE)[-1].properties == {}
    assert last_upstream(store.history(TABLE)) == {"orders.silver_orders": 2}
