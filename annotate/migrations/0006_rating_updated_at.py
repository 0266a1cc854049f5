import django.utils.timezone
from django.db import migrations, models


def updated_when_created(apps, schema_editor):
    """Ratings so far were never changed after their creation, as far as anyone recorded."""
    Rating = apps.get_model("annotate", "Rating")
    Rating.objects.update(updated_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0005_project_route_by_judge"),
    ]

    operations = [
        migrations.AddField(
            model_name="rating",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(updated_when_created, migrations.RunPython.noop, elidable=True),
    ]
