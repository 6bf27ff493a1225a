"""The web page in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium) against the real `autogpt ui` process with a scripted model. Open the list, start a goal, watch
the steps arrive, approve the calls, read the answer, search the list.

The screenshots in docs/ are taken here: set AUTOGPT_UI_SCREENSHOTS=docs to write them there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import in_ci
from ui_support import UiServer, primes_replies, record_run, start_ui

from agent.testing import act

SCREENSHOTS_ENV = "AUTOGPT_UI_SCREENSHOTS"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"]
WAIT_S = 30


def find_browser() -> tuple[str, str]:
    """Chromium and its driver; skipped where they are missing, except in CI, where that is a failure."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "no headless Chromium here: apt-get install -y chromium chromium-driver (or `make browser`)"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path):
    chromium, driver_path = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path: Path, workspace: Path):
    runs = tmp_path / "runs"
    record_run(runs, workspace, [act("run_python", code="print(2 ** 20)"), act("finish", answer="1048576")],
               "What is 2 to the power of 20?")
    record_run(runs, workspace, [act("list_dir")], "List the files in the workspace and sum their sizes",
               max_steps=1)
    ui = start_ui(tmp_path, primes_replies(delay_s=0.8), "--approve", runs_dir=runs, workspace=workspace)
    yield ui
    output = ui.stop()
    assert ui.process.returncode == 0, output


def test_start_a_goal_watch_it_live_approve_its_calls_and_read_the_answer(browser, server: UiServer, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    shots = Screenshots(browser, tmp_path)

    def text(selector: str) -> str:
        return browser.find_element(By.CSS_SELECTOR, selector).text

    def rows() -> list:
        return browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")

    browser.get(server.url)
    wait.until(lambda _: len(rows()) == 2)
    ids = [r.find_element(By.CSS_SELECTOR, "code.run-id").text for r in rows()]
    assert all(len(i) == len("20261201-120000-abcdef") for i in ids)  # each id whole
    assert [r.get_attribute("data-run-id") for r in rows()] == ids
    assert "budget exhausted" in rows()[0].text and "done" in rows()[1].text  # newest first

    browser.find_element(By.ID, "goal").send_keys("Write primes.py that prints the primes below 50, then run it")
    assert browser.find_element(By.ID, "approve").is_selected()  # `autogpt ui --approve` sets the default
    browser.find_element(By.ID, "start-button").click()
    wait.until(seen.url_contains("/runs/"))
    run_id = browser.current_url.rstrip("/").rsplit("/", 1)[1]
    assert text("#run-id-slot code.run-id") == run_id
    browser.execute_script("window.samePage = true")

    wait.until(seen.visibility_of_element_located((By.ID, "approval")))
    assert "write_file will create primes.py" in text("#approval-title")
    assert "+print([n for n in range(2, 50)" in text("#approval-body")
    assert text("#state") == "waiting for approval"
    shots.take("ui-approval.png")
    browser.find_element(By.ID, "allow").click()

    first = '.step[data-step="1"] .observation.ok'
    wait.until(lambda _: "created primes.py" in (browser.find_elements(By.CSS_SELECTOR, first) or [None])[0].text
               if browser.find_elements(By.CSS_SELECTOR, first) else False)
    assert browser.find_elements(By.CSS_SELECTOR, '.step[data-step="3"]') == []  # live: the run goes on
    assert text("#files") .startswith("primes.py")

    wait.until(lambda _: "run_python will run this Python code" in text("#approval-title")
               and browser.find_element(By.ID, "approval").is_displayed())
    assert "runpy.run_path" in text("#approval-body")
    browser.find_element(By.ID, "always").click()

    wait.until(seen.visibility_of_element_located((By.ID, "answer")))
    assert text("#answer-text").startswith("The primes below 50: 2, 3, 5, 7")
    wait.until(lambda _: text("#state") == "done")
    output = text('.step[data-step="2"] .observation')
    assert "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]" in output
    assert "<b>not html</b>" in output  # shown as text, not markup
    marks = browser.find_elements(By.CSS_SELECTOR, '.step[data-step="2"] .observation .ctl')
    assert [m.text for m in marks] == ["\\x1b", "\\x1b"]  # the escape sequence, made visible
    highlighted = browser.find_elements(By.CSS_SELECTOR, '.step[data-step="2"] pre.code span.kn')
    assert [s.text for s in highlighted] == ["import"]
    assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar.tool")
    assert browser.execute_script("return window.samePage") is True  # every step arrived without a reload
    assert not browser.find_element(By.ID, "approval").is_displayed()
    shots.take("ui-run.png", full=True)

    browser.get(server.url)
    wait.until(lambda _: len(rows()) == 3)
    assert rows()[0].get_attribute("data-run-id") == run_id and "done" in rows()[0].text
    search = browser.find_element(By.ID, "search")
    search.send_keys("power")
    wait.until(lambda _: len(rows()) == 1)
    assert "What is 2 to the power of 20?" in rows()[0].text
    search.clear()
    search.send_keys("no such run")
    wait.until(lambda _: not rows() and browser.find_element(By.ID, "empty").text == "No run matches.")
    search.clear()
    search.send_keys(" ", Keys.BACKSPACE)  # an input event with no words: everything again
    wait.until(lambda _: len(rows()) == 3)
    browser.execute_script("document.activeElement.blur()")
    shots.take("ui-runs.png")


def test_with_a_token_the_printed_address_opens_the_page_and_its_live_stream(browser, tmp_path: Path,
                                                                             workspace: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    runs = tmp_path / "runs"
    run_id = record_run(runs, workspace, primes_replies(), "Write primes.py and run it")
    server = start_ui(tmp_path, [], "--token", "page-token-123", runs_dir=runs, workspace=workspace)
    try:
        base = server.url.split("?")[0]
        browser.get(base)
        assert "a token is needed" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(server.url)  # ?token=...: moved into a cookie, and out of the address
        WebDriverWait(browser, WAIT_S).until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr"))
        assert "token" not in browser.current_url
        browser.get(f"{base}runs/{run_id}")
        WebDriverWait(browser, WAIT_S).until(lambda _: browser.find_element(By.ID, "state").text == "done")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#steps .step")) == 3  # the stream came with the cookie
    finally:
        output = server.stop()
    assert server.process.returncode == 0, output


@pytest.mark.real_model
def test_a_run_of_the_real_default_model_from_the_page(browser, tmp_path: Path, workspace: Path):
    """The page over the real default model: the steps show tokens, and the chart prefill and decode time."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    server = start_ui(tmp_path, None, runs_dir=tmp_path / "runs", workspace=workspace)
    try:
        browser.get(server.url)
        WebDriverWait(browser, WAIT_S).until(lambda _: browser.find_element(By.ID, "model").text == "default")
        browser.find_element(By.ID, "goal").send_keys("What is 2 to the power of 20?")
        steps = browser.find_element(By.ID, "max-steps")
        steps.clear()
        steps.send_keys("4")
        browser.find_element(By.ID, "start-button").click()
        WebDriverWait(browser, 300).until(seen.url_contains("/runs/"))  # the model loads first
        WebDriverWait(browser, 600).until(
            lambda _: browser.find_element(By.ID, "state").text in ("done", "failed", "budget exhausted"))
        meta = browser.find_element(By.CSS_SELECTOR, '.step[data-step="1"] .meta').text
        assert "tokens in" in meta and "model " in meta
        assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar.prefill")
        assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar.decode")
        Screenshots(browser, tmp_path).take("ui-run-real-model.png", full=True)
    finally:
        output = server.stop()
    assert server.process.returncode == 0, output


class Screenshots:
    """Pictures of the page: always under tmp_path, and also in $AUTOGPT_UI_SCREENSHOTS when it is set."""

    def __init__(self, driver, tmp_path: Path) -> None:
        self.driver, self.folders = driver, [tmp_path]
        if os.environ.get(SCREENSHOTS_ENV):
            self.folders.append(Path(os.environ[SCREENSHOTS_ENV]))

    def take(self, name: str, *, full: bool = False) -> None:
        size = self.driver.get_window_size()
        if full:  # the whole page, up to a readable length
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(size["width"], min(int(height) + 120, 2400))
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            assert self.driver.save_screenshot(str(folder / name))
        self.driver.set_window_size(size["width"], size["height"])
