"""Screenshots of the main pages for the README: `python scripts/screenshots.py`.

Seeds the Stung Mean Chey demo into a temporary SQLite database, serves it on a free port, signs
in with the demo keys in headless Chromium (/usr/bin/chromium) and saves, in docs/screenshots/:
the login and a household in Khmer and in English at a 390 px phone width, the affordability
result, a loan and the finance lead's dashboard at a desktop width.

`--base-url URL --officer KEY --finance KEY` takes them from a server already running instead.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server() -> Iterator[tuple[str, dict[str, str]]]:
    """The demo programme on a fresh SQLite file, served by uvicorn in a thread."""
    import uvicorn

    from loansvc.config import Settings
    from loansvc.db.session import Database
    from loansvc.demo import seed
    from loansvc.main import create_app
    from loansvc.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        upgrade(url)
        print("==> seeding the demo programme (about a minute)")
        keys = seed(Database(url))
        settings = Settings(
            database_url=url,
            session_secret="screenshots-" + "x" * 32,
            worker_enabled=False,
            log_level="WARNING",
        )
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code < 500:
                    break
            time.sleep(0.1)
        try:
            yield base, keys
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def shoot(page, name: str) -> None:
    from PIL import Image  # Pillow comes with matplotlib

    path = OUT / name
    page.screenshot(path=str(path), full_page=True)
    # 256 colours are plenty for pages of text on flat colours: the file is a third of the size
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    print(f"    {path.relative_to(ROOT)}")


def take(base: str, officer: str, finance: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        phone = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="en-US")
        page = phone.new_page()
        page.goto(f"{base}/ui/lang?lang=km&next=/ui/login")
        shoot(page, "login-km-phone.png")
        sign_in(page, base, officer)
        # a family on the visit list: it has a loan with every part of the page filled in
        page.goto(f"{base}/ui/visits")
        household = page.locator("td a[href^='/ui/households/']").first.get_attribute("href")
        loan = page.locator("tr[data-loan-id]").first.get_attribute("data-loan-id")
        page.goto(f"{base}{household}")
        shoot(page, "household-km-phone.png")
        page.goto(f"{base}/ui/lang?lang=en&next={household}")
        shoot(page, "household-en-phone.png")
        page.goto(f"{base}{household}/affordability")
        page.select_option("select[name='loan.product_id']", index=1)
        page.fill("input[name='loan.amount']", "5000")
        page.fill("input[name='loan.term']", "24")
        page.click("button[name=action][value=check]")
        page.wait_for_selector("#result [data-field=decision]")
        shoot(page, "affordability-en-phone.png")
        desktop = browser.new_context(viewport=DESKTOP, locale="en-US")
        page = desktop.new_page()
        sign_in(page, base, officer)
        page.goto(f"{base}/ui/loans/{loan}")
        shoot(page, "loan-en-desktop.png")
        page.goto(f"{base}/ui/logout")
        sign_in(page, base, finance)
        page.goto(f"{base}/ui/dashboard")
        page.wait_for_load_state("networkidle")
        shoot(page, "dashboard-en-desktop.png")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url")
    parser.add_argument("--officer", help="a loan officer's API key")
    parser.add_argument("--finance", help="a finance lead's API key")
    args = parser.parse_args()
    print(f"==> screenshots into {OUT.relative_to(ROOT)}")
    if args.base_url:
        take(args.base_url.rstrip("/"), args.officer, args.finance)
    else:
        with demo_server() as (base, keys):
            take(base, keys["loan_officer"], keys["finance_lead"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
