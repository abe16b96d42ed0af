import django.db.models.functions.text
from django.db import migrations, models


def rename_clashes(apps, schema_editor):
    """Names become unique ignoring case and surrounding spaces: the oldest person keeps a
    shared name, later ones become "Name (2)", "Name (3)", ... (nobody is merged unasked: two
    people may share a name; an admin merges them if they are one)."""
    Person = apps.get_model("recognition", "Person")
    taken: set[str] = set()
    for person in Person.objects.order_by("id"):
        name = person.name.strip()
        base, n = name, 1
        while name.lower() in taken:
            n += 1
            name = f"{base} ({n})"
        taken.add(name.lower())
        if name != person.name:
            person.name = name
            person.save(update_fields=["name"])


class Migration(migrations.Migration):

    dependencies = [
        ('recognition', '0007_face_rejected_person'),
    ]

    operations = [
        migrations.RunPython(rename_clashes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='person',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='person_name_unique', violation_error_message='There is already a person with this name.'),
        ),
    ]
