"""A real browser shows the progress a running import reports while its upload is answered."""

import json
import threading
import time
from typing import Any

import pytest

from annotate import models, views

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    expect = None

PASSWORD = "pw-concord-1"
FILE = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Add 2 and 2.,math,alpha-7b,4\n"
    b"p1,Add 2 and 2.,math,beta-13b,Four.\n"
)
# Playwright cannot look into a page whose navigation is pending (the form's answer is on its
# way), so the page records what its progress box shows, and the test reads the record after.
RECORD_PROGRESS_BOX = """() => {
    const box = document.getElementById("import-progress");
    const bar = box.querySelector("progress");
    new MutationObserver(() => {
        const seen = JSON.parse(localStorage.getItem("seen") || "[]");
        seen.push({hidden: box.hidden, text: box.innerText, value: bar.value, max: bar.max});
        localStorage.setItem("seen", JSON.stringify(seen));
    }).observe(box, {attributes: true, childList: true, subtree: true, characterData: true});
}"""


def test_the_upload_page_shows_the_stage_the_import_reports_then_the_result(
    page: Any, live_server: Any, project: models.Project, lena: Any, monkeypatch: Any
) -> None:
    polled = threading.Event()
    real_import, real_get = views.import_file, views.import_progress_get

    def slow_import(**kwargs: Any) -> Any:
        # Reports a stage, then goes on only once the page has polled it (and had time to show it).
        kwargs["progress"]("writing pairs", 5, 10)
        polled.wait(timeout=20)
        time.sleep(0.5)
        return real_import(**kwargs)

    def watched_get(**kwargs: Any) -> dict[str, Any]:
        state = real_get(**kwargs)
        if state["stage"] == "writing pairs":
            polled.set()
        return state

    monkeypatch.setattr(views, "import_file", slow_import)
    monkeypatch.setattr(views, "import_progress_get", watched_get)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/projects/{project.slug}/import/")
    expect(page.locator("#import-progress")).to_be_hidden()
    page.evaluate(RECORD_PROGRESS_BOX)
    page.set_input_files(
        "input[name=file]", files=[{"name": "c.csv", "mimeType": "text/csv", "buffer": FILE}]
    )

    page.get_by_role("button", name="Import").click()

    expect(page.locator("#import-result")).to_contain_text("Imported 2 rows")
    assert polled.is_set()
    seen = json.loads(page.evaluate("localStorage.getItem('seen')"))
    shown = [(s["hidden"], s["text"].strip(), s["value"], s["max"]) for s in seen]
    assert (False, "Uploading the file", 0, 1) in shown  # indeterminate until the import reports
    assert shown[-1] == (False, "Writing pairs: 5 of 10", 5, 10)
    assert models.Pair.objects.filter(project=project).count() == 1
