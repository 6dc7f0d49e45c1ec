"""The catalog web page in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright import sync_api

from catalog.model import CheckResultIn, ChecksIn, VersionIn
from tests.catalog.conftest import ORDERS, Seeded, revenue

CHROMIUM = os.environ.get("MESHLAKE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sync_api.Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it as root)")
    home = tmp_path_factory.mktemp("chromium-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TMPDIR", str(home))  # Playwright's driver puts the browser profile there
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                env={"HOME": str(home), "TMPDIR": str(home), "PATH": os.environ.get("PATH", "")},
            )
            yield browser
            browser.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    # 401/403 answers the tests ask for show up as "Failed to load resource"; anything else is a bug.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def sign_in(page: sync_api.Page, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#products")


def test_search_then_open_a_product(page: sync_api.Page, live: str, seeded: Seeded, tmp_path: Path) -> None:
    service = seeded.service
    service.put_product(ORDERS, "orders.daily_revenue", revenue(description="Revenue by day <b>not bold</b>"))
    service.register_version(
        ORDERS, "orders.daily_revenue", VersionIn(version=7, row_count=1234, schema_hash="h1", run_id="run-7")
    )
    checks = ChecksIn(run_id="run-7", results=[CheckResultIn(check="not_null_day", passed=True)])
    service.record_checks(ORDERS, "orders.daily_revenue", checks)

    page.goto(live)
    page.fill("#token", "mlk_not_a_token")
    page.click("button[type=submit]")
    assert "Unknown or revoked token" in page.inner_text("[role=alert]")

    sign_in(page, live, seeded.tokens["orders"])
    assert page.locator("#products tbody tr").count() == 2  # shipping.deliveries is private
    page.fill("input[name=q]", "revenue")
    page.click("form.search button")
    page.wait_for_url("**/?q=revenue**")
    rows = page.locator("#products tbody tr")
    assert rows.count() == 1 and "fresh" in rows.inner_text() and "passing" in rows.inner_text()

    page.click("text=orders.daily_revenue")
    page.wait_for_selector("#schema")
    assert page.inner_text("h1") == "orders.daily_revenue"
    assert page.inner_text("#owner") == "team-orders"
    assert page.inner_text("#freshness") == "fresh"
    assert page.locator("b", has_text="not bold").count() == 0  # descriptions are escaped
    email_row = page.locator("#schema tr", has_text="customer_email")
    assert "PII" in email_row.inner_text()
    lineage = page.inner_text("#lineage")
    assert "orders.customers" in lineage and "shipping.deliveries" in lineage
    assert "1,234" in page.inner_text("#versions") and "run-7" in page.inner_text("#versions")
    assert "No consumer has a grant yet" in page.inner_text("#grants")
    shot = tmp_path / "product.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.click("#lineage >> text=orders.customers")
    page.wait_for_url("**/products/orders.customers")
    assert page.inner_text("#freshness") == "unknown"


def test_a_reader_without_grant_sees_why(page: sync_api.Page, live: str, seeded: Seeded, tmp_path: Path) -> None:
    sign_in(page, live, seeded.tokens["analyst"])
    assert page.locator("#products tbody tr").count() == 1
    response = page.goto(f"{live}/products/orders.daily_revenue")
    assert response is not None and response.status == 403
    page.goto(f"{live}/products/orders.customers")
    assert page.locator("#grants").count() == 0  # grants are the owner's business
    page.goto(f"{live}/products/orders.daily_revenue")
    assert "no grant" in page.inner_text("[role=alert]")
    page.screenshot(path=str(tmp_path / "denied.png"))
    page.click("text=Sign out")
    page.wait_for_selector("#token")


def test_the_owner_sees_a_refused_candidate_and_a_granted_reader_does_not(
    page: sync_api.Page, live: str, seeded: Seeded, tmp_path: Path
) -> None:
    service = seeded.service
    results = [CheckResultIn(check="range_revenue", passed=False), CheckResultIn(check="not_null_day", passed=True)]
    service.record_checks(ORDERS, "orders.daily_revenue", ChecksIn(run_id="run-8", results=results, refused_version=88))
    service.grant(ORDERS, "orders.daily_revenue", "shipping")

    sign_in(page, live, seeded.tokens["orders"])
    page.goto(f"{live}/products/orders.daily_revenue")
    assert "The build of run run-8 wrote version 88" in page.inner_text("#candidate")
    written = page.get_attribute("#candidate time", "datetime")
    assert written is not None
    assert written.startswith(str(datetime.now(UTC).year))
    assert page.locator("#candidate .badge").all_inner_texts() == ["range_revenue"]
    page.screenshot(path=str(tmp_path / "candidate.png"), full_page=True)
    page.click("text=Sign out")
    page.wait_for_selector("#token")
    sign_in(page, live, seeded.tokens["shipping"])
    page.goto(f"{live}/products/orders.daily_revenue")
    page.wait_for_selector("#schema")
    assert page.locator("#candidate").count() == 0  # the candidate is the owner's business
