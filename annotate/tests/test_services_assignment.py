import io
from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Membership,
    Pair,
    Project,
    RaterKind,
    Rating,
)
from annotate.selectors import labeler_view
from annotate.services.assignment import (
    assignment_expire,
    assignment_next,
    assignment_skip,
    rating_submit,
)
from annotate.services.imports import import_file
from annotate.tests.factories import label_all, make_labeler, make_pair
from concord.api_errors import ApplicationError

GOOD = {"helpfulness": 2, "truthfulness": "tie"}


def import_human_rating(project: Project, *, prompt_id: str, rater: str) -> None:
    """A vendor's rating of the pair alpha-7b vs beta-13b of `prompt_id`, through the importer."""
    content = (
        "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n"
        f"{prompt_id},beta-13b,alpha-7b,helpfulness,{rater},human,a\n"
    ).encode()
    import_file(project=project, kind="ratings", file=io.BytesIO(content), filename="r.csv")


def test_next_returns_the_open_assignment_again_until_it_is_submitted(project, alice) -> None:
    make_pair(project)
    first = assignment_next(project=project, labeler=alice)
    assert first is not None
    assert assignment_next(project=project, labeler=alice) == first
    rating_submit(labeler=alice, assignment_id=first.pk, values=GOOD)
    assert assignment_next(project=project, labeler=alice) is None


def test_it_never_gives_a_labeler_the_same_pair_twice(project, alice) -> None:
    pairs = [make_pair(project) for _ in range(3)]
    seen = []
    while (assignment := assignment_next(project=project, labeler=alice)) is not None:
        seen.append(assignment.pair_id)
        rating_submit(labeler=alice, assignment_id=assignment.pk, values=GOOD)
    assert sorted(seen) == sorted(p.pk for p in pairs)


def test_a_pair_never_gets_more_than_overlap_labelers(project) -> None:
    project.overlap = 2
    project.save()
    pair = make_pair(project)
    labelers = [make_labeler(project) for _ in range(4)]
    got = [assignment_next(project=project, labeler=user) for user in labelers]
    assert [a is not None for a in got] == [True, True, False, False]
    pair.refresh_from_db()
    assert pair.claims == 2


def test_each_pair_is_shown_a_first_to_half_of_its_labelers(project) -> None:
    project.overlap = 4
    project.save()
    pairs = [make_pair(project) for _ in range(6)]
    for _ in range(4):
        label_all(project, make_labeler(project), GOOD)
    for pair in pairs:
        shown = list(Assignment.objects.filter(pair=pair).values_list("a_shown_first", flat=True))
        assert len(shown) == 4 and sum(shown) == 2


def test_an_odd_overlap_shows_a_first_to_half_of_all_places_across_the_project(project) -> None:
    project.overlap = 3
    project.save()
    pairs = [make_pair(project) for _ in range(8)]
    for _ in range(3):
        label_all(project, make_labeler(project), GOOD)
    per_pair = [
        sum(Assignment.objects.filter(pair=pair).values_list("a_shown_first", flat=True))
        for pair in pairs
    ]
    # Each pair 2-1 one way or the other, and the odd place alternates between pairs.
    assert sorted(per_pair) == [1, 1, 1, 1, 2, 2, 2, 2]


@pytest.mark.parametrize("shown_first", ["", "a", "b"], ids=["unknown", "a", "b"])
def test_imported_human_ratings_count_for_the_balance_only_with_a_known_order(
    project, shown_first
) -> None:
    """Overlap 3, one vendor rating per pair: the two live places split A/B when the vendor's order
    is unknown; when it is known, the live places make up for it."""
    project.overlap = 3
    project.save()
    for index in range(4):
        make_pair(project, external_id=f"p{index}")
    rows = "".join(
        f"p{index},alpha-7b,beta-13b,{key},vendor,human,a,,{shown_first}\n"
        for index in range(4)
        for key in ("helpfulness", "truthfulness")
    )
    content = (
        "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,strength,shown_first\n" + rows
    )
    import_file(
        project=project, kind="ratings", file=io.BytesIO(content.encode()), filename="r.csv"
    )
    for _ in range(2):
        label_all(project, make_labeler(project), GOOD)
    live_splits = []
    for pair in Pair.objects.order_by("id"):
        live = list(Assignment.objects.filter(pair=pair).values_list("a_shown_first", flat=True))
        assert len(live) == 2
        vendor_a, vendor_b = int(shown_first == "a"), int(shown_first == "b")
        assert (pair.claims, pair.a_first_claims, pair.b_first_claims) == (
            3,
            sum(live) + vendor_a,
            2 - sum(live) + vendor_b,
        )
        live_splits.append(sum(live))
    if shown_first == "":
        assert live_splits == [1, 1, 1, 1]
    else:
        # The vendor's order is made up for first; the third place alternates between pairs.
        made_up = [1, 0] if shown_first == "a" else [1, 2]
        assert sorted(live_splits) == sorted(made_up * 2)


def test_a_lapsed_lease_leans_the_next_claim_to_the_other_order_so_a_late_submit_balances(
    project, alice, bob
) -> None:
    project.overlap = 2
    project.save()
    pair = make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    newcomer = assignment_next(project=project, labeler=bob)
    assert newcomer.pair_id == pair.pk
    assert newcomer.a_shown_first != held.a_shown_first
    rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    rating_submit(labeler=bob, assignment_id=newcomer.pk, values=GOOD)
    pair.refresh_from_db()
    assert (pair.claims, pair.a_first_claims, pair.b_first_claims, pair.expired_lean) == (
        2,
        1,
        1,
        0,
    )


def test_pairs_with_fewest_ratings_come_first(project, alice, bob) -> None:
    first, second = make_pair(project), make_pair(project)
    a = assignment_next(project=project, labeler=alice)
    assert a.pair_id == first.pk
    b = assignment_next(project=project, labeler=bob)
    assert b.pair_id == second.pk


def test_higher_priority_pairs_go_first(project, alice) -> None:
    make_pair(project)
    urgent = make_pair(project)
    Pair.objects.filter(pk=urgent.pk).update(priority=5)
    assert assignment_next(project=project, labeler=alice).pair_id == urgent.pk


def test_an_expired_assignment_returns_to_the_pool(project, alice, bob) -> None:
    project.overlap = 1
    project.save()
    pair = make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    assert assignment_next(project=project, labeler=bob) is None
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    again = assignment_next(project=project, labeler=bob)
    assert again is not None and again.pair_id == pair.pk
    held.refresh_from_db()
    assert held.status == AssignmentStatus.EXPIRED
    assert assignment_expire(project=project) == 0
    project.refresh_from_db()
    assert project.open_pairs == 0


def test_the_open_pair_count_follows_claims_releases_and_fills(project, alice, bob) -> None:
    project.overlap = 1
    project.save()
    make_pair(project)
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    project.refresh_from_db()
    assert project.open_pairs == 1
    assignment_skip(labeler=alice, assignment_id=held.pk)
    project.refresh_from_db()
    assert project.open_pairs == 2
    other = assignment_next(project=project, labeler=bob)
    rating_submit(labeler=bob, assignment_id=other.pk, values=GOOD)
    project.refresh_from_db()
    assert project.open_pairs == 1 == Pair.objects.filter(claims__lt=1).count()


def test_a_late_submit_is_kept_while_the_pair_has_room(project, alice) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assignment_expire(project=project)
    result = rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    assert result.created
    assert Pair.objects.get(pk=held.pair_id).claims == 1


def test_a_late_submit_is_refused_when_others_filled_the_pair(project, alice, bob) -> None:
    project.overlap = 1
    project.save()
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    other = assignment_next(project=project, labeler=bob)
    rating_submit(labeler=bob, assignment_id=other.pk, values=GOOD)
    with pytest.raises(ApplicationError, match="expired"):
        rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    assert Rating.objects.filter(rater="alice").count() == 0


def test_skipping_frees_the_place_and_the_labeler_is_not_offered_the_pair_again(
    project, alice
) -> None:
    pair = make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    skipped = assignment_skip(labeler=alice, assignment_id=held.pk)
    assert skipped.status == AssignmentStatus.SKIPPED
    pair.refresh_from_db()
    assert (pair.claims, pair.a_first_claims, pair.b_first_claims) == (0, 0, 0)
    assert assignment_next(project=project, labeler=alice) is None


def test_submit_stores_canonical_preferences_and_the_shown_value(project, alice) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    result = rating_submit(
        labeler=alice,
        assignment_id=held.pk,
        values={"helpfulness": 1, "truthfulness": "7"},
        rationale="  clearer  ",
        time_spent_ms=4200,
    )
    assert result.ratings == {"helpfulness": "1", "truthfulness": "7"}
    sign = 1 if held.a_shown_first else -1
    stored = {
        r.criterion.key: (r.value_shown, r.preference, r.verdict, r.shown_first, r.rationale)
        for r in Rating.objects.select_related("criterion")
    }
    shown_first = "a" if held.a_shown_first else "b"
    assert stored == {
        "helpfulness": ("1", -4 * sign, "a" if sign > 0 else "b", shown_first, "clearer"),
        "truthfulness": ("7", 3 * sign, "b" if sign > 0 else "a", shown_first, "clearer"),
    }
    held.refresh_from_db()
    assert (held.status, held.time_spent_ms) == (AssignmentStatus.SUBMITTED, 4200)


def test_submitting_twice_answers_with_the_first_result_and_writes_nothing(project, alice) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    first = rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    second = rating_submit(
        labeler=alice, assignment_id=held.pk, values={"helpfulness": 8, "truthfulness": 8}
    )
    assert first.created and not second.created
    assert second.ratings == first.ratings == {"helpfulness": "2", "truthfulness": "tie"}
    assert Rating.objects.count() == 2
    assert Pair.objects.get(pk=held.pair_id).submitted == 1


def test_bad_values_name_the_criterion_and_write_nothing(project, alice) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    with pytest.raises(ApplicationError) as err:
        rating_submit(labeler=alice, assignment_id=held.pk, values={"helpfulness": 9, "colour": 1})
    assert err.value.extra["errors"] == {
        "colour": "not a criterion of this project",
        "helpfulness": "9 is not a point of the 1..8 scale",
        "truthfulness": "missing",
    }
    assert Rating.objects.count() == 0


def test_a_labeler_cannot_touch_someone_elses_assignment(project, alice, bob) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    with pytest.raises(Http404):
        rating_submit(labeler=bob, assignment_id=held.pk, values=GOOD)
    with pytest.raises(Http404):
        assignment_skip(labeler=bob, assignment_id=held.pk)


def test_a_labeler_removed_from_the_project_can_no_longer_rate_or_skip_what_they_held(
    project, alice
) -> None:
    make_pair(project)
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    Membership.objects.filter(project=project, user=alice).delete()
    with pytest.raises(Http404):
        rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    with pytest.raises(Http404):
        assignment_skip(labeler=alice, assignment_id=held.pk)
    assert not Rating.objects.exists()
    assert Assignment.objects.get(pk=held.pk).status == AssignmentStatus.OPEN


def test_the_labeler_view_is_blind_and_in_shown_order(project, alice) -> None:
    make_pair(project, models_=("zeta-70b", "alpha-7b"), texts=("Zeta says hi.", "Alpha says hi."))
    held = assignment_next(project=project, labeler=alice)
    view = labeler_view(assignment=held)
    texts = ["Alpha says hi.", "Zeta says hi."]
    if not held.a_shown_first:
        texts.reverse()
    criteria = [
        {
            "key": key,
            "question": question,
            "scale_points": 8,
            "choices": ["1", "2", "3", "4", "5", "6", "7", "8", "tie"],
            "tie": True,
            "labels": {"low": "Response 1 is much better", "high": "Response 2 is much better"},
        }
        for key, question in [
            ("helpfulness", "Which response is more helpful?"),
            ("truthfulness", "Which response is more truthful?"),
        ]
    ]
    assert view == {
        "assignment_id": held.pk,
        "prompt": held.pair.prompt.text,
        "responses": [{"slot": 1, "text": texts[0]}, {"slot": 2, "text": texts[1]}],
        "criteria": criteria,
        "progress": {"rated": 0, "total": 1},
        "instructions": "",
        "suggestion": None,
    }


def test_a_project_with_prompts_and_ratings_can_be_deleted(project, alice) -> None:
    make_pair(project)
    held = assignment_next(project=project, labeler=alice)
    rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    project.delete()
    assert Pair.objects.count() == Rating.objects.count() == 0


def test_a_labeler_is_not_offered_a_pair_already_rated_under_their_username(project, alice) -> None:
    imported = make_pair(project, external_id="vendor-1")
    fresh = make_pair(project, external_id="fresh-1")
    import_human_rating(project, prompt_id="vendor-1", rater="alice")
    assert Rating.objects.filter(pair=imported, rater="alice", user=None).exists()
    held = assignment_next(project=project, labeler=alice)
    assert held is not None and held.pair_id == fresh.pk
    rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    assert assignment_next(project=project, labeler=alice) is None
    assert not Assignment.objects.filter(pair=imported).exists()


def test_a_labeler_is_not_offered_a_pair_with_a_human_rating_linked_to_their_account(
    project, alice
) -> None:
    # A rating kept under an earlier username still belongs to the account.
    pair = make_pair(project)
    Rating.objects.create(
        pair=pair, criterion=project.criteria.get(key="helpfulness"), rater_kind=RaterKind.HUMAN,
        rater="alice-old", user=alice, preference=1, verdict="b",
    )  # fmt: skip
    assert assignment_next(project=project, labeler=alice) is None


def test_a_submit_clashing_with_a_rating_imported_meanwhile_is_refused_and_frees_the_place(
    project, alice
) -> None:
    pair = make_pair(project, external_id="vendor-1")
    other = make_pair(project, external_id="other-1")
    held = assignment_next(project=project, labeler=alice)
    assert held.pair_id == pair.pk
    import_human_rating(project, prompt_id="vendor-1", rater="alice")
    with pytest.raises(ApplicationError, match="already rated this pair") as err:
        rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    assert err.value.extra == {"withdrawn": True}
    held.refresh_from_db()
    assert held.status == AssignmentStatus.EXPIRED
    # Only the imported rating is stored; its place stays counted, the labeler's is given back.
    assert list(Rating.objects.values_list("pair_id", "rater", "source")) == [
        (pair.pk, "alice", "import")
    ]
    pair.refresh_from_db()
    assert (pair.claims, pair.submitted) == (1, 1)
    with pytest.raises(ApplicationError, match="already rated this pair"):
        rating_submit(labeler=alice, assignment_id=held.pk, values=GOOD)
    pair.refresh_from_db()
    assert pair.claims == 1
    assert assignment_next(project=project, labeler=alice).pair_id == other.pk
