"""Forms of the web pages: they validate and clean input, the services do the work."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from recognition.models import AuditEvent, Person, Photo
from recognition.pipeline import image as images
from recognition.pipeline.types import EXPRESSIONS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """One or more image files; cleans to a list of uploaded files."""

    widget = MultipleFileInput(attrs={"accept": "image/*"})

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        if not any(files):
            return super().clean(None)  # "This field is required."
        single = super().clean  # (a comprehension has no zero-argument super())
        cleaned = [single(file, initial) for file in files]
        for file in cleaned:
            # Only the header is read (no decoding): this refuses a PDF, a video or a bomb at
            # once; a damaged photo passes and the worker says what is wrong with it.
            try:
                images.identify(file)
            except images.ImageError as exc:
                raise ValidationError(f"{file.name}: {exc}") from None
        return cleaned


ORIGINAL_HEAD_BYTES = 256 * 1024  # more than any photo's EXIF block (at most 64 KB in a JPEG)


class UploadForm(forms.Form):
    """Photos from the file picker or drag and drop (``source`` upload), a webcam snapshot
    (``source`` webcam) or a sighting kept by the Live page (``source`` live); the pages'
    scripts set the source."""

    file = PhotosField(label="Photos")
    source = forms.ChoiceField(
        choices=[(Photo.Source.UPLOAD, "Upload"), (Photo.Source.WEBCAM, "Webcam"),
                 (Photo.Source.LIVE, "Live")],
        required=False,
    )

    # The page's script sends a smaller copy of a big photo, and with it the beginning of the
    # original: its EXIF says when the photo was taken.
    original_head = forms.FileField(required=False)

    def clean_source(self) -> str:
        return self.cleaned_data["source"] or Photo.Source.UPLOAD

    def clean_original_head(self):
        head = self.cleaned_data["original_head"]
        return head if head and head.size <= ORIGINAL_HEAD_BYTES else None


class EnrolForm(UploadForm):
    """Enrolment photos: a webcam snapshot comes with the token of the liveness check that
    the person in front of the camera passed just before (README "Liveness")."""

    liveness_token = forms.CharField(required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        """A webcam snapshot needs this user's recent passed check
        (FACEWEB_ENROL_WEBCAM_LIVENESS)."""
        from recognition.services import liveness_token_valid

        cleaned = super().clean()
        if (
            settings.FACEWEB_ENROL_WEBCAM_LIVENESS
            and cleaned.get("source") == Photo.Source.WEBCAM
            and not liveness_token_valid(user=self.user, token=cleaned.get("liveness_token", ""))
        ):
            raise ValidationError("A webcam snapshot enrols someone only after the liveness "
                                  "check: take the snapshot again (the check comes first).")
        return cleaned


class PersonCreateForm(EnrolForm):
    name = forms.CharField(max_length=200)
    file = PhotosField(label="Photo of their face")

    field_order = ("name", "file")

    def clean_file(self):
        files = self.cleaned_data["file"]
        if len(files) != 1:
            raise ValidationError("Choose one photo; add more reference photos afterwards.")
        return files[0]


class ReferenceAddForm(EnrolForm):
    file = PhotosField(label="More photos of their face")


class PersonRenameForm(forms.Form):
    name = forms.CharField(max_length=200)


class PersonMergeForm(forms.Form):
    other = forms.ModelChoiceField(
        queryset=Person.objects.all(), label="Merge this person into it", empty_label="Choose a person…",
        help_text="Their faces and references move over, then they are deleted.",
    )

    def __init__(self, *args, person: Person, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["other"].queryset = Person.objects.exclude(pk=person.pk)


class FaceAssignForm(forms.Form):
    """An existing person, or the name of a new one (exactly one of the two)."""

    person = forms.ModelChoiceField(
        queryset=Person.objects.all(), required=False, label="Existing person",
        empty_label="Choose a person…",
    )
    new_name = forms.CharField(max_length=200, required=False, label="Or a new person")

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("person")) == bool(cleaned.get("new_name", "").strip()):
            raise ValidationError("Choose an existing person or type a new name (not both).")
        return cleaned


class GroupAssignForm(FaceAssignForm):
    face = forms.TypedMultipleChoiceField(coerce=int, label="Faces")

    def __init__(self, *args, face_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["face"].choices = [(pk, pk) for pk in face_ids]


class HistoryFilterForm(forms.Form):
    person = forms.ModelChoiceField(queryset=Person.objects.none(), required=False,
                                    empty_label="Anyone")
    expression = forms.ChoiceField(
        choices=[("", "Any")] + [(e, e.capitalize()) for e in EXPRESSIONS], required=False
    )
    date_from = forms.DateField(required=False, label="From",
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To",
                              widget=forms.DateInput(attrs={"type": "date"}))
    unknown = forms.BooleanField(required=False, label="Unknown faces only")
    # Estimates (FACEWEB_AGE_GENDER); the form drops them when that is off.
    age_from = forms.IntegerField(required=False, min_value=0, max_value=120, label="Age from")
    age_to = forms.IntegerField(required=False, min_value=0, max_value=120, label="Age to")
    gender = forms.ChoiceField(choices=[("", "Any"), ("female", "Female"), ("male", "Male")],
                               required=False)

    def __init__(self, *args, people, age_gender: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people
        if not age_gender:
            for name in ("age_from", "age_to", "gender"):
                del self.fields[name]


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "Any")] + AuditEvent.Action.choices, required=False)
    actor = forms.CharField(required=False, max_length=150, label="Who")
    date_from = forms.DateField(required=False, label="From",
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To",
                              widget=forms.DateInput(attrs={"type": "date"}))
