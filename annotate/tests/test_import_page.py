"""The import page's result: what the file held next to what the import created."""

import re
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate import models
from annotate.services.import_progress import import_progress_get, import_progress_reporter
from annotate.tests.factories import MembershipFactory, UserFactory

GOOD = (Path(__file__).parent / "data" / "completions_good.csv").read_bytes()


def upload(client: Client, project: models.Project) -> Any:
    return client.post(
        reverse("import_upload", args=[project.slug]),
        {
            "file": SimpleUploadedFile("completions.csv", GOOD, content_type="text/csv"),
            "kind": "completions",
            "pairs": "all",
            "seed": "0",
        },
    )


def table_rows(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table is not None
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
        if "<td" in row
    ]


def test_the_import_page_shows_in_file_and_created_counts_side_by_side(
    client: Client, project: models.Project, lena: Any
) -> None:
    client.force_login(lena)

    first = upload(client, project)

    assert first.status_code == 200
    html = first.content.decode()
    assert table_rows(html, "import-totals") == [
        ["Prompts", "3", "3"],
        ["Completions", "9", "9"],
        ["Pairs of these prompts", "10", "10"],
    ]
    assert table_rows(html, "import-categories") == [
        ["writing", "1", "1", "3", "3"],
        ["math", "1", "1", "1", "1"],
        ["coding", "1", "1", "6", "6"],
    ]
    assert models.Pair.objects.filter(project=project).count() == 10


def test_a_reimport_shows_what_the_file_holds_and_that_nothing_was_created(
    client: Client, project: models.Project, lena: Any
) -> None:
    client.force_login(lena)
    upload(client, project)

    again = upload(client, project)

    html = again.content.decode()
    assert "Imported 9 rows (completions)" in html
    assert table_rows(html, "import-totals") == [
        ["Prompts", "3", "0"],
        ["Completions", "9", "0"],
        ["Pairs of these prompts", "10", "0"],
    ]
    assert [row[2] for row in table_rows(html, "import-categories")] == ["0", "0", "0"]
    assert models.Pair.objects.filter(project=project).count() == 10


def test_the_page_can_poll_the_progress_of_its_upload_which_ends_done(
    client: Client, project: models.Project, lena: Any
) -> None:
    client.force_login(lena)
    url = reverse("import_upload", args=[project.slug])
    before = client.get(url, {"progress": "a1b2c3d4e5f6"})

    client.post(
        url,
        {
            "file": SimpleUploadedFile("completions.csv", GOOD, content_type="text/csv"),
            "kind": "completions",
            "pairs": "all",
            "seed": "0",
            "upload_id": "a1b2c3d4e5f6",
        },
    )
    after = client.get(url, {"progress": "a1b2c3d4e5f6"})

    assert before.json() == {
        "stage": "waiting",
        "done": 0,
        "total": 0,
        "label": "Uploading the file",
    }
    assert after.status_code == 200
    assert after.json() == {"stage": "done", "done": 9, "total": 9, "label": "Done"}


def test_progress_is_kept_per_user_and_upload_id(project: models.Project, lena: Any) -> None:
    other_lead = UserFactory(username="leo")
    MembershipFactory(project=project, user=other_lead, role=models.Role.LEAD)
    report = import_progress_reporter(project=project, user=lena, upload_id="upload-0001")

    report("writing pairs", 20_000, 280_000)

    assert import_progress_get(project=project, user=lena, upload_id="upload-0001") == {
        "stage": "writing pairs",
        "done": 20_000,
        "total": 280_000,
        "label": "Writing pairs: 20,000 of 280,000",
    }
    for user, upload_id in ((other_lead, "upload-0001"), (lena, "upload-0002"), (lena, "x")):
        assert import_progress_get(project=project, user=user, upload_id=upload_id)["stage"] == (
            "waiting"
        )
    # A malformed id reports nowhere rather than into a key the caller chose.
    import_progress_reporter(project=project, user=lena, upload_id="../../x")("reading", 1, 0)
    assert (
        import_progress_get(project=project, user=lena, upload_id="../../x")["stage"] == "waiting"
    )


def test_outsiders_and_labelers_cannot_poll_import_progress(
    client: Client, project: models.Project, alice: Any, mallory: Any
) -> None:
    url = reverse("import_upload", args=[project.slug])
    client.force_login(mallory)
    assert client.get(url, {"progress": "a1b2c3d4e5f6"}).status_code == 404
    client.force_login(alice)
    assert client.get(url, {"progress": "a1b2c3d4e5f6"}).status_code == 403


def test_a_lead_imports_ratings_on_the_page_and_a_second_upload_adds_nothing(
    client: Client, project: models.Project, lena: Any
) -> None:
    client.force_login(lena)
    upload(client, project)
    ratings = (Path(__file__).parent / "data" / "ratings_good.csv").read_bytes()

    def upload_ratings() -> str:
        response = client.post(
            reverse("import_upload", args=[project.slug]),
            {
                "file": SimpleUploadedFile("ratings.csv", ratings),
                "kind": "ratings",
                "pairs": "all",  # the form's default, checked on the page
                "seed": "0",
            },
        )
        assert response.status_code == 200
        return response.content.decode()

    first = upload_ratings()

    assert table_rows(first, "import-totals") == [
        ["Ratings", "6", "6"],
        ["Prompts rated", "2", "–"],
        ["Pairs rated", "2", "–"],
    ]
    assert table_rows(first, "import-categories") == [
        ["writing", "1", "1", "5", "5"],
        ["math", "1", "1", "1", "1"],
    ]
    stored = {
        (r.pair.prompt.external_id, r.criterion.key, r.rater, r.shown_first): r.preference
        for r in models.Rating.objects.select_related("pair__prompt", "criterion")
    }
    # vendor-2 named the models the other way round: its winner and shown order are flipped.
    assert stored == {
        ("p1", "helpfulness", "vendor-1", "a"): -3,
        ("p1", "helpfulness", "vendor-2", "a"): 1,
        ("p1", "truthfulness", "vendor-1", ""): 0,
        ("p1", "helpfulness", "gpt-4", "a"): 2,
        ("p1", "helpfulness", "gpt-4", "b"): -1,
        ("p2", "helpfulness", "vendor-1", ""): 4,
    }

    def places() -> dict[str, tuple[int, int, int]]:
        rated = models.Pair.objects.filter(model_a="alpha-7b", model_b="beta-13b")
        return {
            p.prompt.external_id: (p.claims, p.a_first_claims, p.b_first_claims)
            for p in rated.filter(prompt__external_id__in=["p1", "p2"])
        }

    # Human raters take places; vendor-1's order on p2 is unknown, so it counts for neither order.
    assert places() == {"p1": (2, 2, 0), "p2": (1, 0, 0)}

    again = upload_ratings()

    assert table_rows(again, "import-totals")[0] == ["Ratings", "6", "0"]
    assert models.Rating.objects.count() == 6
    assert places() == {"p1": (2, 2, 0), "p2": (1, 0, 0)}
