"""People, their photos, and the faces found in them.

A Person's gallery is their *reference* faces: faces a person (not the matcher) said are
them. Automatic matches never become references, so one wrong match cannot teach the
gallery to make more.
"""

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Lower

from recognition.pipeline.types import EXPRESSIONS

EMBEDDING_DTYPE = np.dtype("<f4")  # little-endian float32: 128 values = 512 bytes per face
EMBEDDING_SIZE = 128


class Person(models.Model):
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = (
            # "Tony Blair" and "tony blair" are one person; services.person_create strips spaces.
            models.UniqueConstraint(
                Lower("name"), name="person_name_unique",
                violation_error_message="There is already a person with this name.",
            ),
        )
        indexes = (
            # People list, sorted by name.
            models.Index(fields=["name"], name="person_name_idx"),
        )

    def __str__(self) -> str:
        return self.name


class Batch(models.Model):
    """Photos uploaded together on the Recognise page: its results come back when the page
    does, and its own page sums them up."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"Batch {self.pk}"


class Photo(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        WEBCAM = "webcam"
        API = "api"
        LIVE = "live"  # a sighting kept by the Live page
        IMPORT = "import"  # manage.py import_photos

    # Photos from a camera: their faces get a liveness score (pipeline.liveness).
    CAMERA_SOURCES = (Source.WEBCAM, Source.LIVE)

    class Purpose(models.TextChoices):
        RECOGNISE = "recognise"
        ENROL = "enrol"

    file = models.FileField(upload_to="photos/%Y/%m/")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the file, hex")
    original_name = models.CharField(
        max_length=255, blank=True, help_text="The file's name on the uploader's device"
    )
    taken_at = models.DateTimeField(
        null=True, blank=True, help_text="When the photo was taken (its EXIF), if it says"
    )
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="photos",
    )
    source = models.CharField(max_length=10, choices=Source, default=Source.UPLOAD)
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos",
        help_text="The Recognise page's batch it was uploaded in",
    )
    purpose = models.CharField(max_length=10, choices=Purpose, default=Purpose.RECOGNISE)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="enrolment_photos",
        help_text="For an enrolment photo: the person it enrols (its face becomes a reference)",
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    error = models.TextField(
        blank=True, help_text="Why analysis failed, or why an enrolment photo enrolled nobody"
    )
    # Incremented by every claim: the number of times analysis started, and the token that
    # lets only the latest claim store its results.
    attempts = models.PositiveSmallIntegerField(default=0)
    crashes = models.PositiveSmallIntegerField(
        default=0, help_text="Claims whose worker process died (or timed out) mid-analysis",
    )
    claimed_by = models.CharField(
        max_length=200, blank=True,
        help_text="machine:pid of the worker process holding the last claim (see recognition.jobs)",
    )
    model_version = models.CharField(max_length=100, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="Last job published")
    started_at = models.DateTimeField(null=True, blank=True, help_text="Last claim")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.CheckConstraint(
                condition=Q(person__isnull=True) | Q(purpose="enrol"),
                name="photo_person_only_for_enrolment",
            ),
        )
        indexes = (
            # Photo lists, newest first.
            models.Index(fields=["-created_at"], name="photo_created_idx"),
            # History and the photo list: newest first by when it was taken, else uploaded
            # (selectors.WHEN), for staff (every photo) and for a user (their own), so that a
            # page reads its rows in order instead of sorting every photo.
            models.Index(Coalesce("taken_at", "created_at").desc(), F("id").desc(),
                         name="photo_when_idx"),
            models.Index(F("uploaded_by"), Coalesce("taken_at", "created_at").desc(),
                         F("id").desc(), name="photo_user_when_idx"),
            # An upload answered with the same photo its uploader already sent.
            models.Index(fields=["uploaded_by", "content_hash"], name="photo_hash_idx"),
            # The sweep's scan for photos stuck pending or processing; finished photos, the
            # vast majority, stay out of the index.
            models.Index(
                fields=["status"], condition=Q(status__in=["pending", "processing"]),
                name="photo_unfinished_idx",
            ),
        )

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.status})"


class Face(models.Model):
    class Decision(models.TextChoices):
        AUTO = "auto", "Matched automatically"
        UNKNOWN = "unknown", "Unknown"
        ASSIGNED = "assigned", "Assigned by a person"

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="faces")
    box = models.JSONField(help_text="[x1, y1, x2, y2] in pixels of the upright photo")
    landmarks = models.JSONField(help_text="5 [x, y]: eyes, nose, mouth corners")
    detection_score = models.FloatField()
    sharpness = models.FloatField(
        null=True, blank=True, help_text="Focus of its crop (pipeline.quality.sharpness)"
    )
    embedding = models.BinaryField(max_length=512, help_text="128 little-endian float32")
    model_version = models.CharField(max_length=100)
    crop = models.ImageField(upload_to="faces/%Y/%m/", blank=True)
    expression = models.CharField(max_length=10, choices=[(e, e) for e in EXPRESSIONS])
    expression_scores = models.JSONField(help_text="Every expression's probability")
    expression_model = models.CharField(
        max_length=100, blank=True, help_text="What read the expression (pipeline.expression.VERSION)"
    )
    # Estimated age and gender (pipeline.age_gender); empty when FACEWEB_AGE_GENDER is off.
    age = models.FloatField(null=True, blank=True, help_text="Estimated age in years")
    gender = models.CharField(
        max_length=6, blank=True, choices=[("male", "male"), ("female", "female")],
        help_text="Estimated gender",
    )
    gender_probability = models.FloatField(
        null=True, blank=True, help_text="How sure the estimate of gender is (0.5-1)"
    )
    # Head pose in degrees from the landmarks (pipeline.quality.pose): yaw > 0 looks towards
    # the picture's right, pitch > 0 up, roll > 0 tilts clockwise.
    yaw = models.FloatField(null=True, blank=True)
    pitch = models.FloatField(null=True, blank=True)
    roll = models.FloatField(null=True, blank=True)
    quality = models.FloatField(
        null=True, blank=True, help_text="0-1: size, focus, pose and detection score together "
        "(pipeline.quality.score)",
    )
    liveness_score = models.FloatField(
        null=True, blank=True, help_text="Camera photos only: the probability that the face "
        "is a live person's, not a print (pipeline.liveness)",
    )
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="faces"
    )
    decision = models.CharField(max_length=10, choices=Decision, default=Decision.UNKNOWN)
    distance = models.FloatField(
        null=True, blank=True,
        help_text="Distance to the nearest person's nearest reference when analysed",
    )
    is_reference = models.BooleanField(default=False)
    candidate = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="An unknown face's 'possibly': the nearest person, not quite near enough",
    )
    rejected_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Someone said this face is not this person: never matched to them again",
    )
    # Groups of unknown faces that probably show one person, written by the grouping task
    # (services.faces.unknown_faces_regroup), never on a page view. NULL: not grouped yet (new,
    # or unknown again); -1: considered, in no group (alone, too poor, hidden or too old).
    cluster = models.IntegerField(null=True, blank=True)
    cluster_hidden = models.BooleanField(
        default=False, help_text="Kept out of groups: someone chose to hide its group"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The gallery cache watches the newest updated_at among references: every change to a
    # face must save it (save() does; a queryset update() must set it).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("photo_id", "id")
        constraints = (
            # A deleted Person sets person NULL here; on an auto or assigned face that breaks
            # this rule, so deleting a person outside services.person_delete fails loudly
            # instead of leaving their faces behind as "decided" but anonymous.
            models.CheckConstraint(
                condition=(Q(decision="unknown") & Q(person__isnull=True))
                | (~Q(decision="unknown") & Q(person__isnull=False)),
                name="face_person_matches_decision",
            ),
            models.CheckConstraint(
                condition=Q(is_reference=False) | Q(decision="assigned"),
                name="face_reference_is_assigned",
            ),
        )
        indexes = (
            # The gallery: every reference of the current model version, and the
            # count/newest-change fingerprint that tells a worker its cached copy is stale.
            models.Index(
                fields=["model_version", "updated_at"], condition=Q(is_reference=True),
                name="face_gallery_idx",
            ),
            # The unknown-faces page (grouped faces, and faces in no group newest first) and
            # the grouping task's check for faces not grouped yet.
            models.Index(
                fields=["cluster", "-id"], condition=Q(decision="unknown"),
                name="face_unknown_idx",
            ),
            # The unknown-faces page: faces possibly someone, newest first.
            models.Index(
                fields=["-id"], condition=Q(decision="unknown", candidate__isnull=False),
                name="face_possible_idx",
            ),
            # Every face of a model version, and its count/newest-change fingerprint: the
            # index for finding a face everywhere (selectors.face_index_get).
            models.Index(fields=["model_version", "updated_at"], name="face_version_idx"),
        )

    def __str__(self) -> str:
        return f"Face {self.pk} in photo {self.photo_id}"

    @property
    def band(self) -> str:
        """How sure the app is of who it is: confirmed (a person said so), recognised,
        possible (unknown, with a ``candidate`` offered) or unknown."""
        if self.decision == self.Decision.ASSIGNED:
            return "confirmed"
        if self.decision == self.Decision.AUTO:
            return "recognised"
        return "possible" if self.candidate_id else "unknown"

    @staticmethod
    def is_live_score(score: float | None) -> bool:
        """The one rule: a liveness score at or above FACEWEB_LIVENESS_THRESHOLD is a live
        person's; no score is not."""
        return score is not None and score >= settings.FACEWEB_LIVENESS_THRESHOLD

    @property
    def looks_live(self) -> bool | None:
        """Whether a camera face passed the passive liveness check (None: not scored)."""
        return None if self.liveness_score is None else self.is_live_score(self.liveness_score)

    @property
    def facing(self) -> str:
        """Which way the head looks, in words (from its yaw; pitch is too coarse to say)."""
        if self.yaw is None:
            return ""
        if abs(self.yaw) < 15:
            return "towards the camera"
        side = "right" if self.yaw > 0 else "left"
        return f"turned about {abs(self.yaw):.0f}° to the picture's {side}"

    def embedding_array(self) -> np.ndarray:
        """The descriptor as a (128,) float32 array."""
        return np.frombuffer(bytes(self.embedding), dtype=EMBEDDING_DTYPE)


class AuditEvent(models.Model):
    """Who did what to which biometric record, and when. Append-only: rows are never changed
    or deleted by the app (``save`` refuses an update, ``delete`` refuses)."""

    class Action(models.TextChoices):
        VIEW_PHOTO = "view_photo", "Viewed another user's photo"
        VIEW_CROP = "view_crop", "Viewed another user's face crop"
        EXPORT = "export", "Exported a person's data"
        ASSIGN = "assign", "Assigned a face to a person"
        NOT_A_FACE = "not_a_face", "Deleted a detection as not a face"
        RESTORE_FACE = "restore_face", "Undid deleting a detection as not a face"
        MERGE = "merge", "Merged two people"
        DELETE_PERSON = "delete_person", "Deleted a person"
        DELETE_PHOTO = "delete_photo", "Deleted a photo"
        SEARCH_FACE = "search_face", "Searched every photo for a face"

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the account is gone")
    action = models.CharField(max_length=20, choices=Action)
    target = models.CharField(max_length=100, help_text='What it was done to, e.g. "photo 12"')
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = (
            # The audit page: newest first, filtered by action.
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
        )

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class Heartbeat(models.Model):
    """When something last proved it works by writing: the sweep after each run (so a stopped
    Celery beat shows), and the health probe (a database that answers reads may still refuse
    writes, e.g. on a full disk)."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
