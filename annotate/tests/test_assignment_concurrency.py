"""Many labelers at once, each on its own connection, hammering next and submit."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotate.models import Assignment, AssignmentStatus, Pair, Rating
from annotate.services.assignment import assignment_next, assignment_skip, rating_submit
from annotate.tests.factories import (
    CriterionFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    make_pair,
)
from conftest import service_missing

LABELERS = 12
PAIRS = 40
OVERLAP = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_labelers_never_overrun_overlap_or_repeat_a_pair() -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL (set DATABASE_URL) for the row-lock concurrency test")
    project = ProjectFactory(overlap=OVERLAP)
    CriterionFactory(project=project, key="helpfulness")
    for _ in range(PAIRS):
        make_pair(project)
    users = [UserFactory() for _ in range(LABELERS)]
    for user in users:
        MembershipFactory(project=project, user=user)
    errors: list[BaseException] = []
    submitted: Counter[int] = Counter()
    start = threading.Barrier(LABELERS)

    def work(index: int) -> None:
        user = users[index]
        try:
            start.wait()
            step = 0
            while (assignment := assignment_next(project=project, labeler=user)) is not None:
                step += 1
                if step % 7 == 0:
                    assignment_skip(labeler=user, assignment_id=assignment.pk)
                    continue
                result = rating_submit(
                    labeler=user, assignment_id=assignment.pk, values={"helpfulness": 1 + step % 8}
                )
                assert result.created
                # A double submit from a retrying client must not write twice.
                assert not rating_submit(
                    labeler=user, assignment_id=assignment.pk, values={"helpfulness": 8}
                ).created
                submitted[index] += 1
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(LABELERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    per_pair = Counter(
        Assignment.objects.filter(status=AssignmentStatus.SUBMITTED).values_list(
            "pair_id", flat=True
        )
    )
    assert max(per_pair.values()) <= OVERLAP
    pairs_per_labeler = Counter(Assignment.objects.values_list("pair_id", "labeler_id"))
    assert max(pairs_per_labeler.values()) == 1
    # No lost submission: every submit the threads saw succeed is one rating in the database.
    assert Rating.objects.count() == sum(submitted.values())
    for pair in Pair.objects.all():
        done = per_pair.get(pair.pk, 0)
        assert pair.submitted == done
        assert pair.claims == done  # nothing left open
    # Every pair reached overlap: skips only move work, never lose it (12 labelers > overlap).
    assert sorted(set(per_pair.values())) == [OVERLAP]
    assert len(per_pair) == PAIRS
    project.refresh_from_db()
    assert project.open_pairs == Pair.objects.filter(claims__lt=OVERLAP).count() == 0
