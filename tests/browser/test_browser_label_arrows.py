"""A real browser: the arrow keys move a question's choice along its scale."""

import pytest

from annotate import models
from annotate.tests.factories import CriterionFactory, make_pair
from tests.browser.test_browser_labeling import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    expect = None


def checked(page, criterion: str) -> str | None:
    return page.evaluate(
        "name => { const c = document.querySelector(`input[name=${name}]:checked`);"
        " return c ? c.value : null; }",
        f"criterion_{criterion}",
    )


def test_left_and_right_move_the_focused_questions_choice_and_keep_the_other_keys(
    page, live_server, project, alice
):
    CriterionFactory(project=project, key="harmlessness", question="Which response is safer?",
                     scale_points=5, tie_option=False, position=2)  # fmt: skip
    make_pair(project)
    make_pair(project)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.slug}/label/")
    page.locator("details.instructions summary").click()
    expect(page.locator("details.instructions")).to_contain_text("move the focused question")
    page.locator("fieldset.criterion").first.focus()

    # From no choice an 8-point scale starts at its middle: right lands on 5, left on 4.
    page.keyboard.press("ArrowRight")
    assert checked(page, "helpfulness") == "5"
    page.keyboard.press("ArrowRight")
    assert checked(page, "helpfulness") == "6"
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    assert checked(page, "helpfulness") == "1"  # stops at the end of the scale
    # Arrows keep focus on the question; a digit still picks and moves on.
    page.keyboard.press("7")
    assert checked(page, "helpfulness") == "7"
    page.keyboard.press("t")
    assert checked(page, "truthfulness") == "tie"
    # A 5-point scale's middle point is its tie; right from no choice lands on 4, then stops at 5.
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert checked(page, "harmlessness") == "5"
    # A tie counts as the middle: left from it is the mildest preference for Response 1.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    assert checked(page, "truthfulness") == "4"
    page.keyboard.press("ArrowRight")
    assert checked(page, "truthfulness") == "5"
    assert checked(page, "helpfulness") == "7"
    page.keyboard.press("Enter")
    expect(page.locator("#progress")).to_have_text("1 of 2 rated")

    assignment = models.Assignment.objects.get(
        labeler=alice, status=models.AssignmentStatus.SUBMITTED
    )
    assert dict(assignment.ratings.values_list("criterion__key", "value_shown")) == {
        "helpfulness": "7",
        "truthfulness": "5",
        "harmlessness": "5",
    }
