"""/api/v1/: one route per use case, the OpenAPI schema and its browsable docs."""

from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from recognition.api import (
    audit,
    auth,
    docs,
    errors,
    faces,
    health,
    liveness,
    people,
    photos,
    verify,
)


class IdConverter:
    """A primary key: digits that fit in 64 bits (longer ones fall through to not_found)."""

    regex = "[0-9]{1,18}"
    to_python = int
    to_url = str


register_converter(IdConverter, "id")

app_name = "api"
urlpatterns = [
    path("photos/", photos.PhotoCollectionApi.as_view(), name="photos"),
    path("photos/<id:photo_id>/", photos.PhotoDetailApi.as_view(), name="photo-detail"),
    path("photos/<id:photo_id>/image/", photos.PhotoImageApi.as_view(), name="photo-image"),
    path("batches/", photos.BatchCollectionApi.as_view(), name="batches"),
    path("batches/<id:batch_id>/", photos.BatchDetailApi.as_view(), name="batch-detail"),
    path("people/", people.PersonCollectionApi.as_view(), name="people"),
    path("people/<id:person_id>/", people.PersonDetailApi.as_view(), name="person-detail"),
    path("people/<id:person_id>/merge/", people.PersonMergeApi.as_view(), name="person-merge"),
    path("people/<id:person_id>/export/", people.PersonExportApi.as_view(), name="person-export"),
    path("people/<id:person_id>/enrol/", people.PersonEnrolApi.as_view(), name="person-enrol"),
    path("people/<id:person_id>/references/", people.PersonReferenceCollectionApi.as_view(),
         name="person-references"),
    path("people/<id:person_id>/references/<id:face_id>/", people.PersonReferenceApi.as_view(),
         name="person-reference"),
    path("faces/<id:face_id>/", faces.FaceDetailApi.as_view(), name="face-detail"),
    path("faces/<id:face_id>/crop/", faces.FaceCropApi.as_view(), name="face-crop"),
    path("faces/<id:face_id>/everywhere/", faces.FaceEverywhereApi.as_view(),
         name="face-everywhere"),
    path("faces/<id:face_id>/assign/", faces.FaceAssignApi.as_view(), name="face-assign"),
    path("faces/<id:face_id>/not-a-face/", faces.FaceNotAFaceApi.as_view(), name="face-not-a-face"),
    path("faces/<id:face_id>/not-this-person/", faces.FaceNotThisPersonApi.as_view(),
         name="face-not-this-person"),
    path("unknown/", faces.UnknownFacesApi.as_view(), name="unknown"),
    path("unknown/hide/", faces.UnknownHideApi.as_view(), name="unknown-hide"),
    path("verify/", verify.VerifyApi.as_view(), name="verify"),
    path("identify/", verify.IdentifyApi.as_view(), name="identify"),
    path("liveness/challenge/", liveness.ChallengeApi.as_view(), name="liveness-challenge"),
    path("liveness/", liveness.LivenessApi.as_view(), name="liveness"),
    path("health/", health.HealthApi.as_view(), name="health"),
    path("audit/", audit.AuditApi.as_view(), name="audit"),
    path("auth/token/", auth.TokenApi.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", docs.RedocView.as_view(url_name="api:schema"), name="redoc"),
    # Last: anything else under /api/v1/ is a JSON 404, not an HTML page.
    re_path(r"^", errors.not_found),
]
