"""A real browser: a labeler rates by keyboard alone, a lead imports, an outsider is refused."""

import pytest

from annotate import models
from annotate.tests.factories import make_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    expect = None

PASSWORD = "pw-concord-1"
GOOD_FILE = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b"p1,Write a haiku.,writing,beta-13b,Rain falls.\n"
    b"p2,Add 2 and 2.,math,alpha-7b,4\n"
    b"p2,Add 2 and 2.,math,beta-13b,Four.\n"
)
BAD_FILE = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b",Orphan prompt,writing,alpha-7b,text\n"
)
LONG_ANSWER = """Here is a careful answer.

1. Boil water and let it cool for **30 seconds**.
2. Pour it over the grounds slowly.

```python
def brew(grams: int) -> float:
    return grams * 16.5  # water in ml
```

Enjoy your coffee."""


def csv_upload(name: str, content: bytes) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": content}


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{live_server.url}/")


def test_a_labeler_rates_three_pairs_with_the_keyboard_alone(
    page, live_server, project, alice, screenshot_dir
):
    project.instructions = "Judge **helpfulness** first, then truthfulness."
    project.save()
    make_pair(project, texts=(LONG_ANSWER, "Just use a coffee machine."))
    for _ in range(3):
        make_pair(project)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.slug}/label/")
    progress = page.locator("#progress")
    expect(progress).to_have_text("0 of 4 rated")
    page.screenshot(path=str(screenshot_dir / "label.png"), full_page=True)
    # Under ~800px the two responses stack instead of sitting side by side.
    page.set_viewport_size({"width": 600, "height": 900})
    first, second = (page.locator("article.response").nth(i).bounding_box() for i in (0, 1))
    assert second["y"] >= first["y"] + first["height"]
    page.screenshot(path=str(screenshot_dir / "label_narrow.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Enter with nothing chosen submits nothing and names the missing questions.
    page.keyboard.press("Enter")
    expect(page.locator("#missing-note")).to_contain_text("Which response is more helpful?")
    expect(page.locator("fieldset.criterion.missing")).to_have_count(2)

    # Digits pick and move on; Tab, Shift+Tab and the vertical arrows move between questions.
    steps = [
        ["3", "t"],
        ["Tab", "1", "Shift+Tab", "8"],
        ["ArrowDown", "5", "ArrowUp", "2"],
    ]
    for rated, keys in enumerate(steps):
        # The page's script focuses the first question once loaded; keys before that go nowhere.
        expect(page.locator("fieldset.criterion").first).to_be_focused()
        for key in keys:
            page.keyboard.press(key)
        if rated == 2:
            page.screenshot(path=str(screenshot_dir / "label_chosen.png"), full_page=True)
        page.keyboard.press("Enter")
        expect(progress).to_have_text(f"{rated + 1} of 4 rated")

    submitted = models.Assignment.objects.filter(
        labeler=alice, status=models.AssignmentStatus.SUBMITTED
    ).order_by("id")
    assert submitted.count() == 3
    values = [dict(a.ratings.values_list("criterion__key", "value_shown")) for a in submitted]
    assert values == [
        {"helpfulness": "3", "truthfulness": "tie"},
        {"helpfulness": "8", "truthfulness": "1"},
        {"helpfulness": "2", "truthfulness": "5"},
    ]
    assert all(a.time_spent_ms is not None for a in submitted)

    # S skips the fourth pair; then there is nothing left.
    page.keyboard.press("s")
    expect(page.get_by_role("heading", name="All done")).to_be_visible()
    assert (
        models.Assignment.objects.filter(
            labeler=alice, status=models.AssignmentStatus.SKIPPED
        ).count()
        == 1
    )


def test_a_lead_uploads_a_good_file_and_a_bad_one(page, live_server, project, lena):
    log_in(page, live_server, "lena")
    page.get_by_role("link", name="Chatbot eval").click()
    page.get_by_role("link", name="Import data").click()
    page.set_input_files("input[name=file]", files=[csv_upload("good.csv", GOOD_FILE)])
    page.select_option("select[name=kind]", "completions")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("Imported 4 rows")
    expect(page.locator("#import-result")).to_contain_text("math")
    assert models.Pair.objects.filter(project=project).count() == 2

    page.set_input_files("input[name=file]", files=[csv_upload("bad.csv", BAD_FILE)])
    page.get_by_role("button", name="Import").click()
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("Nothing was imported")
    first_error = errors.locator("tbody tr").first.locator("td")
    expect(first_error.nth(0)).to_have_text("2")
    expect(first_error.nth(1)).to_have_text("prompt_id")
    assert models.Prompt.objects.filter(project=project).count() == 2


def test_an_outsider_is_refused(page, live_server, project, alice, mallory):
    make_pair(project)
    log_in(page, live_server, "mallory")
    expect(page.locator("main")).to_contain_text("not a member of any project")
    for path in ("", "label/", "import/"):
        response = page.goto(f"{live_server.url}/projects/{project.slug}/{path}")
        assert response.status == 404
    assert not models.Assignment.objects.filter(labeler=mallory).exists()
