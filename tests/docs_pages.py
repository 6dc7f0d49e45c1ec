"""Check an API docs page (Swagger UI, ReDoc) as an offline browser would: every asset it loads is served locally."""

from __future__ import annotations

import re

import httpx

_ASSET = re.compile(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""")


def assert_served_offline(http: httpx.Client, path: str) -> list[str]:
    """Load `path`, and check that each URL it references is on this server and answers 200.

    Returns:
        The URLs referenced (so a caller can check what the page loads).
    """
    page = http.get(path)
    assert page.status_code == 200, (path, page.status_code)
    urls = _ASSET.findall(page.text)
    assert urls, f"{path} references no assets"
    assert "http://" not in page.text and "https://" not in page.text, f"{path} names a remote URL"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{path} loads {url} from elsewhere"
        assert http.get(url).status_code == 200, f"{path} loads {url}, which does not answer"
    return urls
