"""The README's settings table is generated from the model; `meshlake config` rows mask secrets."""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import MASK, Settings
from pipelines.settings_view import config_rows, settings_table, with_table
from tests.paths import REPO


def test_the_readme_settings_table_is_the_models() -> None:
    readme = (REPO / "README.md").read_text()
    assert with_table(readme) == readme, "README settings table is stale: python -m pipelines.settings_view README.md"
    for name in Settings.model_fields:
        assert f"`MESHLAKE_{name.upper()}`" in settings_table()


def test_config_rows_mask_secrets_and_passwords_in_urls_and_name_sources(tmp_path: Path) -> None:
    (tmp_path / "meshlake.yaml").write_text("catalog_db: postgresql+psycopg://me:hunter2@db:5432/catalog\n")
    env = {"MESHLAKE_CATALOG_TOKEN": "mlk_secret", "MESHLAKE_NATS_URL": "nats://127.0.0.1:4222"}

    rows = {r.name: r for r in config_rows(Settings.load(cwd=tmp_path, env=env))}

    assert rows["catalog_token"].value == MASK
    assert rows["catalog_token"].source == "MESHLAKE_CATALOG_TOKEN"
    assert rows["catalog_db"].value == f"postgresql+psycopg://me:{MASK}@db:5432/catalog"
    assert rows["catalog_db"].source == str(tmp_path / "meshlake.yaml")
    assert rows["nats_url"].value == "nats://127.0.0.1:4222"
    assert rows["home"].value == str(tmp_path / ".meshlake")
    assert rows["home"].source == "default"
    assert "hunter2" not in repr(rows) and "mlk_secret" not in repr(rows)


def test_a_settings_repr_masks_passwords_in_urls() -> None:
    settings = Settings(catalog_db="postgresql+psycopg://me:hunter2@db/catalog", nats_url="nats://127.0.0.1:4222")
    assert "hunter2" not in repr(settings)
    assert f"postgresql+psycopg://me:{MASK}@db/catalog" in repr(settings)
    assert settings.catalog_db == "postgresql+psycopg://me:hunter2@db/catalog"  # the value itself is whole
