"""People (staff only): the list, enrolment from a photo or a snapshot, reference faces,
renaming, merging, deleting; and unknown faces grouped by similarity."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from recognition import files, selectors, services
from recognition.forms import (
    GroupAssignForm,
    PersonCreateForm,
    PersonMergeForm,
    PersonRenameForm,
    ReferenceAddForm,
)
from recognition.models import Face, Person, Photo
from recognition.views.access import staff_required

# People per page of the people page (by name).
PEOPLE_PAGE_SIZE = 60


@staff_required
def person_list(request):
    form = PersonCreateForm(request.POST or None, request.FILES or None, user=request.user)
    existing = None
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                person = services.person_create(name=form.cleaned_data["name"])
                services.person_reference_add(
                    person=person, file=form.cleaned_data["file"], uploaded_by=request.user,
                    source=form.cleaned_data["source"],
                )
        except services.PersonExists as exc:
            existing = exc.person  # offered instead: the template links to them
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{person.name} added; their photo is being analysed.")
            return redirect("recognition:person_detail", pk=person.pk)
    page = Paginator(selectors.person_list(), PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "recognition/person_list.html", {
        "page": page, "form": form, "existing": existing,
    })


@staff_required
def person_detail(request, pk: int):
    person = get_object_or_404(selectors.person_list(), pk=pk)
    return render(request, "recognition/person_detail.html", {
        "person": person,
        # Enrolment photos still being analysed, or that enrolled nobody (and why).
        "enrolments": person.enrolment_photos.exclude(status=Photo.Status.DONE, error="").exclude(
            Exists(Face.objects.filter(photo=OuterRef("pk"), person=person, is_reference=True))
        ),
        "add_form": ReferenceAddForm(),
        "rename_form": PersonRenameForm(initial={"name": person.name}),
        "merge_form": PersonMergeForm(person=person),
    })


@staff_required
@require_POST
def person_reference_add(request, pk: int):
    """Add reference faces from photos: each is analysed and, if it shows one face, that face
    becomes a reference (the person page shows what happened)."""
    person = get_object_or_404(Person, pk=pk)
    form = ReferenceAddForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        added = 0
        for file in form.cleaned_data["file"]:
            try:
                services.person_reference_add(
                    person=person, file=file, uploaded_by=request.user,
                    source=form.cleaned_data["source"],
                )
                added += 1
            except ValidationError as exc:
                messages.error(request, f"{file.name}: {' '.join(exc.messages)}")
        if added:
            messages.success(request, f"{added} photo{'s' if added > 1 else ''} added; "
                             "being analysed.")
    else:
        messages.error(request, " ".join(m for e in form.errors.values() for m in e))
    return redirect("recognition:person_detail", pk=person.pk)


@staff_required
@require_POST
def person_reference_remove(request, pk: int, face_pk: int):
    face = get_object_or_404(Face.objects.select_related("person"), pk=face_pk, person_id=pk,
                             is_reference=True)
    services.person_reference_remove(person=face.person, face=face)
    messages.success(request, "Reference face removed.")
    return redirect("recognition:person_detail", pk=pk)


@staff_required
@require_POST
def person_rename(request, pk: int):
    person = get_object_or_404(Person, pk=pk)
    form = PersonRenameForm(request.POST)
    if form.is_valid():
        try:
            services.person_rename(person=person, name=form.cleaned_data["name"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Renamed to {person.name}.")
    return redirect("recognition:person_detail", pk=person.pk)


@staff_required
@require_POST
def person_merge(request, pk: int):
    """Merge the chosen other person into this one."""
    person = get_object_or_404(Person, pk=pk)
    form = PersonMergeForm(request.POST, person=person)
    if form.is_valid():
        other = form.cleaned_data["other"]
        name, faces = other.name, other.faces.count()
        services.person_merge(into=person, other=other, actor=request.user)
        messages.success(
            request, f"{name} merged into {person.name}: {faces} face{pluralize(faces)} moved. "
            "Earlier photos are matched again in the background.",
        )
    else:
        messages.error(request, "Choose the person to merge into this one.")
    return redirect("recognition:person_detail", pk=person.pk)


@staff_required
def person_export(request, pk: int):
    """Everything stored about the person, as a zip download (audited)."""
    person = get_object_or_404(Person, pk=pk)
    return files.attachment(services.person_export(person=person, actor=request.user),
                            filename=f"person-{person.pk}.zip", content_type="application/zip")


@staff_required
def person_delete(request, pk: int):
    """A confirmation page (GET), then the deletion with their biometric data (POST)."""
    person = get_object_or_404(selectors.person_list(), pk=pk)
    if request.method == "POST":
        services.person_delete(person=person, actor=request.user)
        messages.success(request, f"{person.name} and their reference faces were deleted.")
        return redirect("recognition:person_list")
    return render(request, "recognition/person_delete.html", {"person": person})


@staff_required
def unknown_faces(request):
    unknown = selectors.unknown_faces(
        model_version=services.model_version(), threshold=services.match_threshold(),
        min_size=settings.FACEWEB_GROUP_MIN_SIZE,
    )
    groups = [
        (group, GroupAssignForm(
            prefix=f"group{group.faces[0].pk}", face_ids=[f.pk for f in group.faces],
            initial={"person": group.looks_like},
        ))
        for group in unknown.groups
    ]
    people = list(GroupAssignForm.base_fields["person"].choices)  # read once for every form
    for _, form in groups:
        form.fields["person"].choices = people
    return render(request, "recognition/unknown_faces.html", {
        "unknown": unknown, "groups": groups,
    })


@staff_required
@require_POST
def unknown_assign(request):
    """Assign the ticked faces of one group to an existing or a new person, in one action."""
    prefix = request.POST.get("prefix", "")
    face_ids = [int(v) for v in request.POST.getlist(f"{prefix}-face") if v.isdigit()]
    form = GroupAssignForm(request.POST, prefix=prefix, face_ids=face_ids)
    if form.is_valid():
        faces = list(Face.objects.filter(pk__in=form.cleaned_data["face"],
                                         decision=Face.Decision.UNKNOWN))
        try:
            person = services.faces_assign(
                faces=faces, person=form.cleaned_data["person"],
                new_person_name=form.cleaned_data["new_name"], actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"{len(faces)} face{pluralize(len(faces))} assigned to {person.name}."
            )
    else:
        errors = [m for e in form.errors.values() for m in e]
        messages.error(request, " ".join(errors))
    return redirect("recognition:unknown_faces")


@staff_required
@require_POST
def unknown_hide(request):
    """Keep a group's unknown faces out of groups (strangers in the background)."""
    ids = [int(v) for v in request.POST.getlist("group_face") if v.isdigit()]
    hidden = services.unknown_faces_hide(face_ids=ids)
    messages.success(request, f"{hidden} face{pluralize(hidden)} will no longer be grouped.")
    return redirect("recognition:unknown_faces")
