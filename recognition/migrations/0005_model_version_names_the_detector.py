"""Faces record the pipeline spec's version, which now names the detector first
(recognition/pipeline/spec.py). Every face stored before was found by MTCNN."""

from django.db import migrations

OLD = "face-api-1.7.15-resnet/template-0.97/mirror-mean/unit"
NEW = "mtcnn/" + OLD


def forwards(apps, schema_editor):
    apps.get_model("recognition", "Face").objects.filter(model_version=OLD).update(model_version=NEW)
    apps.get_model("recognition", "Photo").objects.filter(model_version=OLD).update(model_version=NEW)


def backwards(apps, schema_editor):
    apps.get_model("recognition", "Face").objects.filter(model_version=NEW).update(model_version=OLD)
    apps.get_model("recognition", "Photo").objects.filter(model_version=NEW).update(model_version=OLD)


class Migration(migrations.Migration):
    dependencies = [("recognition", "0004_claims_and_heartbeats")]
    operations = [migrations.RunPython(forwards, backwards)]
