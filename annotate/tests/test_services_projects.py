from datetime import timedelta

import pytest

from annotate.models import Pair, Project
from annotate.selectors import labeler_progress
from annotate.services.assignment import assignment_next
from annotate.services.projects import project_create, project_update
from annotate.tests.factories import UserFactory, make_pair
from concord.api_errors import ApplicationError


def test_a_new_project_gets_the_configured_lease_unless_one_is_given(db: None, settings) -> None:
    settings.ASSIGNMENT_LEASE_MINUTES = 12
    default = project_create(name="Default")
    assert default.lease_minutes == 12
    assert project_create(name="Long", lease_minutes=90).lease_minutes == 90
    labeler = UserFactory()
    make_pair(default)
    held = assignment_next(project=default, labeler=labeler)
    assert held is not None
    lease = held.expires_at - held.created_at
    assert timedelta(minutes=12) - timedelta(seconds=5) < lease <= timedelta(minutes=12)
    with pytest.raises(ApplicationError, match="at least 1 minute, got 0"):
        project_create(name="None", lease_minutes=0)


def test_lowering_overlap_recounts_the_open_pairs_and_every_labelers_total(project, alice) -> None:
    busy, idle = make_pair(project), make_pair(project)
    Pair.objects.filter(pk=busy.pk).update(claims=2, submitted=2)
    project_update(project=project, data={"overlap": 3})
    assert Project.objects.get(pk=project.pk).open_pairs == 2
    assert labeler_progress(project=project, labeler=alice) == {"rated": 0, "total": 2}

    project_update(project=project, data={"overlap": 2})

    project.refresh_from_db()
    assert (project.overlap, project.open_pairs) == (2, 1)
    assert labeler_progress(project=project, labeler=alice) == {"rated": 0, "total": 1}
    assert assignment_next(project=project, labeler=alice).pair_id == idle.pk


def test_raising_overlap_gives_full_pairs_room_again(project, alice) -> None:
    project_update(project=project, data={"overlap": 1})
    full = make_pair(project)
    holder = UserFactory()
    assignment_next(project=project, labeler=holder)
    assert assignment_next(project=project, labeler=alice) is None
    project_update(project=project, data={"overlap": 2})
    assert Project.objects.get(pk=project.pk).open_pairs == 1
    assert assignment_next(project=project, labeler=alice).pair_id == full.pk
    assert Pair.objects.get(pk=full.pk).claims == 2


def test_an_update_changes_only_the_given_settings(project) -> None:
    make_pair(project)
    project_update(
        project=project, data={"name": " Renamed ", "mode": "verify", "lease_minutes": 7}
    )
    stored = Project.objects.get(pk=project.pk)
    assert (stored.name, stored.mode, stored.lease_minutes, stored.overlap, stored.slug) == (
        "Renamed", "verify", 7, 3, "chatbot-eval",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"overlap": 0}, "at least 1, got 0"),
        ({"lease_minutes": 0}, "at least 1 minute, got 0"),
        ({"mode": "open"}, "Unknown mode 'open'"),
        ({"name": "  "}, "needs a name"),
        ({"slug": "taken"}, "slug 'taken' already exists"),
        ({"open_pairs": 99}, "Cannot change open_pairs"),
    ],
)
def test_a_bad_update_names_the_setting_and_changes_nothing(project, data, message) -> None:
    project_create(name="Taken")
    with pytest.raises(ApplicationError, match=message):
        project_update(project=project, data=data)
    stored = Project.objects.get(pk=project.pk)
    assert (stored.overlap, stored.lease_minutes, stored.mode, stored.name, stored.open_pairs) == (
        3, 30, "blind", "Chatbot eval", 0,
    )  # fmt: skip


def test_an_assignment_claimed_before_an_overlap_change_still_counts(project, alice, bob) -> None:
    make_pair(project)
    assert assignment_next(project=project, labeler=alice) is not None
    project_update(project=project, data={"overlap": 1})
    project.refresh_from_db()
    assert project.open_pairs == 0
    assert assignment_next(project=project, labeler=bob) is None
