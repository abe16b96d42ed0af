"""The Celery app. Cheap to import: no model is loaded here or in the parent process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")

app = Celery("faceweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
