import io
from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.utils import timezone

from annotate.models import Assignment, Pair
from annotate.services.assignment import assignment_expire, assignment_next, rating_submit
from annotate.services.imports import import_file
from annotate.tests.factories import make_labeler, make_pair

GOOD = {"helpfulness": 2, "truthfulness": "tie"}
orders_migration = import_module("annotate.migrations.0007_pair_orders_known_and_expired")


def test_the_order_counts_migration_recounts_every_pair_from_its_rows(project, alice, bob) -> None:
    """Counters zeroed as before the migration come back as the services keep them; twice."""
    ratings = (
        "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,shown_first\n"
        "p0,alpha-7b,beta-13b,helpfulness,vendor-1,human,a,b\n"
        "p0,alpha-7b,beta-13b,truthfulness,vendor-1,human,a,b\n"
        "p0,alpha-7b,beta-13b,helpfulness,vendor-2,human,b,\n"
        "p0,alpha-7b,beta-13b,helpfulness,gpt,llm,b,b\n"
    )
    make_pair(project, external_id="p0")
    make_pair(project, external_id="p1")
    import_file(
        project=project, kind="ratings", file=io.BytesIO(ratings.encode()), filename="r.csv"
    )
    carol = make_labeler(project)
    for labeler in (alice, bob, carol):
        held = assignment_next(project=project, labeler=labeler)
        if labeler is bob:
            rating_submit(labeler=bob, assignment_id=held.pk, values=GOOD)
    lapsed = Assignment.objects.get(labeler=carol)
    Assignment.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(1))
    assignment_expire(project=project)
    kept = {p.pk: (p.a_first_claims, p.b_first_claims, p.expired_lean) for p in Pair.objects.all()}
    assert sum(b for _a, b, _lean in kept.values()) >= 1
    assert any(lean for _a, _b, lean in kept.values())

    for _run in range(2):
        Pair.objects.update(b_first_claims=0, expired_lean=0)
        orders_migration.count_orders(apps, None)
        assert {
            p.pk: (p.a_first_claims, p.b_first_claims, p.expired_lean) for p in Pair.objects.all()
        } == kept
