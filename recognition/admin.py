"""Django admin for people, photos and faces. Deletions and re-analysis go through services,
so biometric data and files are purged the same way everywhere."""

from django.contrib import admin
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from recognition import services
from recognition.models import AuditEvent, Face, Person, Photo


def _thumbnail(url: str | None, size: int = 64) -> str:
    """An image through the page view that checks who asks (staff here), or a dash."""
    if not url:
        return "—"
    return format_html('<img src="{}" style="max-width:{}px;max-height:{}px" alt="">',
                       url, size, size)


def _crop_url(face: Face) -> str | None:
    return reverse("recognition:face_crop", args=[face.pk]) if face.crop else None


class FaceInline(admin.TabularInline):
    model = Face
    fk_name = "photo"
    extra = 0
    can_delete = False
    fields = ("crop_thumbnail", "person", "decision", "distance", "is_reference", "expression")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Face")
    def crop_thumbnail(self, face: Face) -> str:
        return _thumbnail(_crop_url(face))


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "reference_count", "face_count", "created_at")
    search_fields = ("name",)
    readonly_fields = ("references",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_faces=Count("faces"), n_references=Count("faces", filter=Q(faces__is_reference=True))
        )

    @admin.display(description="References", ordering="n_references")
    def reference_count(self, person: Person) -> int:
        return person.n_references

    @admin.display(description="Faces", ordering="n_faces")
    def face_count(self, person: Person) -> int:
        return person.n_faces

    @admin.display(description="Reference faces")
    def references(self, person: Person) -> str:
        faces = person.faces.filter(is_reference=True) if person.pk else []
        return format_html_join("", "{}", ((_thumbnail(_crop_url(f), 96),) for f in faces)) or "—"

    def delete_model(self, request, obj: Person) -> None:
        services.person_delete(person=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for person in queryset:
                services.person_delete(person=person, actor=request.user)


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "status", "purpose", "source", "face_count", "created_at")
    # "Expression read by" finds photos read by an older expression model, to analyse again.
    list_filter = ("status", "purpose", "source", "faces__expression_model")
    inlines = (FaceInline,)
    actions = ("reanalyse",)
    readonly_fields = (
        "thumbnail", "file", "content_hash", "size_bytes", "width", "height", "uploaded_by",
        "source", "purpose", "person", "status", "error", "attempts", "model_version",
        "timings_ms", "created_at", "queued_at", "started_at", "finished_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_faces=Count("faces"))

    def has_add_permission(self, request) -> bool:
        return False  # uploads go through the app, which stores and queues them

    @admin.display(description="Photo")
    def thumbnail(self, photo: Photo) -> str:
        url = reverse("recognition:photo_image", args=[photo.pk]) + "?thumb"
        return _thumbnail(url if photo.file else None, 96)

    @admin.display(description="Faces", ordering="n_faces")
    def face_count(self, photo: Photo) -> int:
        return photo.n_faces

    @admin.action(description="Analyse the selected photos again")
    def reanalyse(self, request, queryset) -> None:
        for photo in queryset:
            services.photo_reanalyse(photo=photo)
        self.message_user(request, f"{len(queryset)} photo(s) queued for analysis.")

    def delete_model(self, request, obj: Photo) -> None:
        services.photo_delete(photo=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for photo in queryset:
                services.photo_delete(photo=photo, actor=request.user)


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    """Read-only: a face's identity changes through the app (services.face_assign)."""

    list_display = ("id", "thumbnail", "person", "decision", "distance", "is_reference",
                    "expression", "photo")
    list_filter = ("decision", "is_reference", "expression", "expression_model")
    list_select_related = ("person", "photo")
    search_fields = ("person__name",)
    readonly_fields = ("thumbnail",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a face goes with its photo

    @admin.display(description="Face")
    def thumbnail(self, face: Face) -> str:
        return _thumbnail(_crop_url(face))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only, like the log itself."""

    list_display = ("at", "actor_name", "action", "target", "detail")
    list_filter = ("action",)
    search_fields = ("actor_name", "target")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
