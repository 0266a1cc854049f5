"""Many labelers at once, each on its own connection, hammering next and submit."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Pair, Rating
from annotate.services import assignment as assignment_service
from annotate.services.assignment import (
    RatingSubmitResult,
    assignment_next,
    assignment_skip,
    rating_submit,
)
from annotate.tests.factories import (
    CriterionFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    make_pair,
)
from concord.api_errors import ApplicationError
from conftest import service_missing

LABELERS = 12
PAIRS = 40
OVERLAP = 3


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL (set DATABASE_URL) for the row-lock concurrency test")


def run_together(work: Callable[[int], None], count: int) -> list[BaseException]:
    """Runs work(0..count-1) in threads released at once, each on its own connection; answers
    the errors they raised. Fails if any thread is still running after the timeout."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:  # reported by the caller, with the thread's failure
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [t.name for t in threads if t.is_alive()], "threads still running after 120 s"
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_labelers_never_overrun_overlap_or_repeat_a_pair() -> None:
    require_postgresql()
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
    assert not [t.name for t in threads if t.is_alive()], "threads still running after 120 s"
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
        # Counterbalanced under contention too: 2-1 one way or the other, never 3-0.
        shown = Assignment.objects.filter(pair=pair, status=AssignmentStatus.SUBMITTED)
        a_first = shown.filter(a_shown_first=True).count()
        assert (pair.a_first_claims, pair.b_first_claims) == (a_first, done - a_first)
        assert abs(2 * a_first - done) <= 1
    # Every pair reached overlap: skips only move work, never lose it (12 labelers > overlap).
    assert sorted(set(per_pair.values())) == [OVERLAP]
    assert len(per_pair) == PAIRS
    project.refresh_from_db()
    assert project.open_pairs == Pair.objects.filter(claims__lt=OVERLAP).count() == 0


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_submits_of_one_assignment_store_one_set_of_ratings() -> None:
    require_postgresql()
    project = ProjectFactory(overlap=OVERLAP)
    CriterionFactory(project=project, key="helpfulness", position=0)
    CriterionFactory(project=project, key="truthfulness", position=1)
    pair = make_pair(project)
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    held = assignment_next(project=project, labeler=user)
    assert held is not None
    results: list[RatingSubmitResult] = []

    def submit(index: int) -> None:
        # Every thread sends different values: only the first stored submit may count.
        value = 1 + index % 8
        results.append(
            rating_submit(
                labeler=user,
                assignment_id=held.pk,
                values={"helpfulness": value, "truthfulness": value},
            )
        )

    errors = run_together(submit, 16)
    assert not errors, errors

    assert len(results) == 16
    created = [r for r in results if r.created]
    assert len(created) == 1
    assert {tuple(sorted(r.ratings.items())) for r in results} == {
        tuple(sorted(created[0].ratings.items()))
    }
    stored = dict(Rating.objects.values_list("criterion__key", "value_shown"))
    assert stored == created[0].ratings
    assert Rating.objects.count() == 2
    pair.refresh_from_db()
    assert (pair.claims, pair.submitted) == (1, 1)
    assert Assignment.objects.get(pk=held.pk).status == AssignmentStatus.SUBMITTED


@pytest.mark.django_db(transaction=True)
def test_expired_leases_under_concurrent_next_and_late_submits_never_overrun_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every place is held by a lease that has run out. Half the holders walked away; the other
    half submit late, each after a short pause, while as many newcomers ask for work at once.
    Each place ends up used exactly once: kept by its late holder or handed to a newcomer."""
    require_postgresql()
    overlap, pairs = 2, 10
    monkeypatch.setattr(assignment_service, "_last_sweep", {})
    project = ProjectFactory(overlap=overlap)
    CriterionFactory(project=project, key="helpfulness")
    for _ in range(pairs):
        make_pair(project)
    holders = [UserFactory() for _ in range(overlap * pairs)]
    newcomers = [UserFactory() for _ in range(overlap * pairs)]
    for user in holders + newcomers:
        MembershipFactory(project=project, user=user)
    held = {}
    for user in holders:
        assignment = assignment_next(project=project, labeler=user)
        assert assignment is not None
        held[user.pk] = assignment.pk
    assert assignment_next(project=project, labeler=newcomers[0]) is None
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    late_holders = holders[::2]
    # list.append is atomic under the GIL; a Counter's += is not.
    kept: list[int] = []
    refused: list[int] = []
    rated: list[int] = []

    def work(index: int) -> None:
        if index < len(late_holders):
            user = late_holders[index]
            # Staggered, so some submit before the sweep, some after it, some after newcomers.
            time.sleep(0.004 * index)
            try:
                rating_submit(labeler=user, assignment_id=held[user.pk], values={"helpfulness": 3})
                kept.append(user.pk)
            except ApplicationError:
                refused.append(user.pk)
            return
        user = newcomers[index - len(late_holders)]
        while (assignment := assignment_next(project=project, labeler=user)) is not None:
            rating_submit(labeler=user, assignment_id=assignment.pk, values={"helpfulness": 6})
            rated.append(assignment.pk)

    errors = run_together(work, len(late_holders) + len(newcomers))
    assert not errors, errors

    submitted = Counter(
        Assignment.objects.filter(status=AssignmentStatus.SUBMITTED).values_list(
            "pair_id", flat=True
        )
    )
    assert len(kept) + len(refused) == len(late_holders)
    assert len(rated) >= overlap * pairs - len(late_holders)  # the walked-away places
    # Every place was used exactly once, by its late holder or by a newcomer.
    assert len(kept) + len(rated) == overlap * pairs == sum(submitted.values())
    assert set(submitted.values()) == {overlap}
    assert max(Counter(Assignment.objects.values_list("pair_id", "labeler_id")).values()) == 1
    assert Rating.objects.count() == overlap * pairs
    for pair in Pair.objects.all():
        assert pair.claims == pair.submitted == submitted[pair.pk] == overlap
        for a_first, counted in ((True, pair.a_first_claims), (False, pair.b_first_claims)):
            assert (
                counted
                == Assignment.objects.filter(
                    pair=pair, status=AssignmentStatus.SUBMITTED, a_shown_first=a_first
                ).count()
            )
    assert not Assignment.objects.filter(status=AssignmentStatus.OPEN).exists()
    walked_away = [held[user.pk] for user in holders[1::2]]
    assert set(Assignment.objects.filter(pk__in=walked_away).values_list("status", flat=True)) == {
        AssignmentStatus.EXPIRED
    }
    project.refresh_from_db()
    assert project.open_pairs == 0
