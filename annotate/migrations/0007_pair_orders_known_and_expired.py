from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def count_orders(apps, schema_editor):
    """B-first places and the expired-lease lean, from the assignments and imported ratings.

    Until now a place not shown A first was taken for B first, imported ratings of unknown order
    included. Re-runnable: every pair's counters are recomputed from the rows.
    """
    Pair = apps.get_model("annotate", "Pair")
    Assignment = apps.get_model("annotate", "Assignment")
    Rating = apps.get_model("annotate", "Rating")

    def per_pair(queryset, counted="id", distinct=False):
        grouped = queryset.filter(pair_id=OuterRef("pk")).values("pair_id")
        counts = grouped.annotate(n=Count(counted, distinct=distinct)).values("n")
        return Coalesce(Subquery(counts), Value(0))

    assigned_b = Assignment.objects.filter(status__in=["open", "submitted"], a_shown_first=False)
    imported_b = Rating.objects.filter(rater_kind="human", source="import", shown_first="b")
    expired = Assignment.objects.filter(status="expired")
    Pair.objects.update(
        b_first_claims=per_pair(assigned_b) + per_pair(imported_b, "rater", distinct=True),
        expired_lean=per_pair(expired.filter(a_shown_first=True))
        - per_pair(expired.filter(a_shown_first=False)),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0006_rating_updated_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="pair",
            name="b_first_claims",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="pair",
            name="expired_lean",
            field=models.IntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(count_orders, migrations.RunPython.noop, elidable=True),
    ]
