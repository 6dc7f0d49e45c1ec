"""The catalog's sign-in page tells a new reader how to get a token."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from catalog.api import create_app
from catalog.service import CatalogService


def test_the_sign_in_page_names_the_command_that_makes_a_token(tmp_path: Path) -> None:
    service = CatalogService.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        page = TestClient(create_app(service)).get("/")
    finally:
        service.close()
    assert page.status_code == 200
    assert 'id="token"' in page.text
    assert "meshlake catalog token create --principal &lt;domain&gt;" in page.text
    assert "--kind reader" in page.text
