"""`make screenshots`: the console's main pages as the README shows them, from the demo.

It does what a new user does: `ledger demo` into a fresh data directory (which
generates the credentials), `ledger serve`, then signs in with the generated tokens in
headless Chromium (Debian's `chromium` and `chromium-driver`) and saves each page to
docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser import launch_chromium
from tests.servers import free_port

OUT = Path(__file__).parent / "screenshots"
PAGES = [  # (file, role, path)
    ("subject-compare.png", "auditor", "/console/subjects/user_bob?as_of=19&compare=9"),
    ("subject.png", "auditor", "/console/subjects/user_alice"),
    ("alerts.png", "auditor", "/console/alerts"),
    ("transparency.png", "admin", "/console/transparency"),
    ("read-models.png", "admin", "/console/projections"),
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ledger-screenshots-") as folder:
        env = {**os.environ, "LEDGER_DATA_DIR": folder,
               "LEDGER_DATABASE_URL": f"sqlite:///{folder}/ledger.db"}  # fmt: skip
        env = {k: v for k, v in env.items() if not k.startswith("LEDGER_") or k in
               ("LEDGER_DATA_DIR", "LEDGER_DATABASE_URL")}  # fmt: skip
        subprocess.run([sys.executable, "-m", "cli", "demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        tokens = json.loads((Path(folder) / "credentials.json").read_text())["api_tokens"]
        by_role = {role: token for token, role in tokens.items()}
        port = free_port()
        command = [sys.executable, "-m", "cli", "serve", "--port", str(port)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_caught_up(base, by_role["admin"])
            browser = launch_chromium(1200, 900)
            try:
                for role in ("auditor", "admin"):
                    browser.delete_all_cookies()
                    browser.get(f"{base}/console/login")
                    if role == "auditor":
                        browser.save_screenshot(str(OUT / "sign-in.png"))
                    browser.find_element(By.ID, "token").send_keys(by_role[role], Keys.ENTER)
                    time.sleep(0.5)
                    for name, needs, path in PAGES:
                        if needs == role:
                            browser.get(base + path)
                            height = browser.execute_script(
                                "return document.documentElement.scrollHeight"
                            )
                            browser.set_window_size(1200, min(max(height, 600), 2000))
                            browser.save_screenshot(str(OUT / name))
                            print(f"docs/screenshots/{name}: {path}")
            finally:
                browser.quit()
        finally:
            server.terminate()
            server.wait(timeout=15)


def _wait_until_caught_up(base: str, admin_token: str) -> None:
    """Until the server answers and its read models have caught up with the demo."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{base}/projections",
                               headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
            states = answer.json()["projections"] if answer.status_code == 200 else []
            if states and all(s["lag"] == 0 for s in states if s["state"] != "retired"):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("ledger serve did not start, or its read models did not catch up")


if __name__ == "__main__":
    main()
