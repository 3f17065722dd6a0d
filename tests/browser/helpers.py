"""What browser tests do again and again: sign in, fill a form, wait for htmx."""

from __future__ import annotations

from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

TIMEOUT = 30


# Chromium's inspector reports a node swapped out between finding and reading it as a plain
# WebDriverException, not a StaleElementReferenceException (seen once in CI after an htmx swap).
DETACHED_NODE = "does not belong to the document"


class _Waiting(WebDriverWait):
    """A wait whose condition is looked at again when an htmx swap replaced what it was reading."""

    def until(self, method: Any, message: str = "") -> Any:
        def again_if_detached(driver: Any) -> Any:
            try:
                return method(driver)
            except WebDriverException as exc:
                if isinstance(exc, (NoSuchElementException, StaleElementReferenceException)) or DETACHED_NODE in (exc.msg or ""):
                    return False
                raise

        return super().until(again_if_detached, message)


def wait(driver: Any, timeout: float = TIMEOUT) -> WebDriverWait:
    # An htmx swap can replace what a condition is looking at: look again.
    return _Waiting(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def visible(driver: Any, css: str) -> Any:
    return wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def text_in(driver: Any, css: str, text: str) -> None:
    wait(driver).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def fill(driver: Any, values: dict[str, str], form: str = "form") -> None:
    """Type into (or pick in) the fields of ``form`` found by their ``name``."""
    for name, value in values.items():
        el = driver.find_element(By.CSS_SELECTOR, f'{form} [name="{name}"]')
        if el.tag_name == "select":
            Select(el).select_by_visible_text(value)
        else:
            el.clear()
            el.send_keys(value)


def pick(driver: Any, css: str, *texts: str) -> None:
    select = Select(driver.find_element(By.CSS_SELECTOR, css))
    for text in texts:
        select.select_by_visible_text(text)


def submit(driver: Any, form: str = "form") -> None:
    driver.find_element(By.CSS_SELECTOR, f'{form} button[type="submit"]').click()


def sign_in(driver: Any, base_url: str, role_label: str, county: str = "640402", organisation: str | None = None,
            name: str = "测试用户", worker: str | None = None) -> None:
    """``worker``: for a social worker's own account, the label of the worker picked after the organisation."""
    driver.get(base_url + "/login")
    county_field = driver.find_element(By.ID, "f-county")
    if county_field.get_attribute("value") != county:
        county_field.clear()
        county_field.send_keys(county)
    pick(driver, "#f-role", role_label)  # after the county: the organisation picker is fetched for both
    if organisation:
        wait(driver).until(lambda d: any(o.text == organisation for o in d.find_elements(By.CSS_SELECTOR, "#f-organisation option")))
        pick(driver, "#f-organisation", organisation)
    if worker:
        wait(driver).until(lambda d: any(o.text == worker for o in d.find_elements(By.CSS_SELECTOR, "#f-worker option")))
        pick(driver, "#f-worker", worker)
    driver.find_element(By.ID, "f-user_name").send_keys(name)
    submit(driver, "#login-form")
    wait(driver).until(lambda d: "/login" not in d.current_url)


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(first17: str) -> str:
    """A valid 统一社会信用代码 ending ``first17`` with its GB 32100-2015 check character."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


def check(driver: Any, *labels: str) -> None:
    """Tick the checkboxes whose label text is one of ``labels``."""
    wanted = {"".join(text.split()) for text in labels}
    seen = []
    for label in driver.find_elements(By.CSS_SELECTOR, "label"):
        text = "".join(label.text.split())
        seen.append(text)
        if text in wanted:
            wanted.discard(text)
            box = label.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
            if not box.is_selected():
                box.click()
    assert not wanted, f"no checkbox labelled {wanted} among {seen}"
