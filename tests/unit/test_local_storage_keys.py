"""`--storage s3`'s scoped keys: random, kept under the home (its owner's only), the same after a restart."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.local_storage import scoped_identities


def test_keys_are_kept_and_reused_and_a_new_domain_gets_its_own(tmp_path: Path) -> None:
    reader, writers = scoped_identities(tmp_path, ["orders", "shipping"])
    again_reader, again = scoped_identities(tmp_path, ["orders", "shipping", "payments"])

    assert again_reader == reader and again["orders"] == writers["orders"] and again["shipping"] == writers["shipping"]
    keys = {i.access_key for i in (reader, *again.values())}
    assert len(keys) == 4
    assert (tmp_path / "s3-keys.json").stat().st_mode & 0o777 == 0o600


def test_a_domain_s_key_reads_what_the_reader_reads_and_writes_only_its_own_tables(tmp_path: Path) -> None:
    reader, writers = scoped_identities(tmp_path, ["orders"])

    assert set(reader.actions) == {"Read:meshlake", "List:meshlake"}
    assert set(writers["orders"].actions) == {
        "Read:meshlake",  # its Sail reads other domains' products for gold
        "List:meshlake",
        "Write:meshlake/warehouse/iceberg/orders/*",
        "Write:meshlake/warehouse/delta/orders/*",
    }
