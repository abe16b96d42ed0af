"""The web pages. Every view requires a signed-in user; people pages require staff."""

from django.urls import path

from recognition.views import account, audit, dashboard, faces, people, photos

app_name = "recognition"

urlpatterns = [
    path("", photos.recognise, name="recognise"),
    path("photos/upload/", photos.photo_upload, name="photo_upload"),
    path("live/", photos.live, name="live"),
    path("batches/new/", photos.batch_new, name="batch_new"),
    path("batches/<int:pk>/", photos.batch_detail, name="batch_detail"),
    path("photos/<int:pk>/", photos.photo_detail, name="photo_detail"),
    path("photos/<int:pk>/status/", photos.photo_status, name="photo_status"),
    path("photos/<int:pk>/result/", photos.photo_result, name="photo_result"),
    path("photos/<int:pk>/image/", photos.photo_image, name="photo_image"),
    path("photos/<int:pk>/delete/", photos.photo_delete, name="photo_delete"),
    path("history/", photos.history, name="history"),
    path("history/people/<int:pk>/", photos.person_timeline, name="person_timeline"),
    path("faces/restore/", faces.face_restore, name="face_restore"),
    path("faces/<int:pk>/", faces.face_detail, name="face_detail"),
    path("faces/<int:pk>/crop/", photos.face_crop, name="face_crop"),
    path("faces/<int:pk>/everywhere/", faces.face_everywhere, name="face_everywhere"),
    path("faces/<int:pk>/assign/", faces.face_assign, name="face_assign"),
    path("faces/<int:pk>/not-a-face/", faces.face_not_a_face, name="face_not_a_face"),
    path("faces/<int:pk>/not-this-person/", faces.face_not_this_person,
         name="face_not_this_person"),
    path("people/", people.person_list, name="person_list"),
    path("people/<int:pk>/", people.person_detail, name="person_detail"),
    path("people/<int:pk>/references/", people.person_reference_add, name="person_reference_add"),
    path("people/<int:pk>/references/<int:face_pk>/remove/", people.person_reference_remove,
         name="person_reference_remove"),
    path("people/<int:pk>/rename/", people.person_rename, name="person_rename"),
    path("people/<int:pk>/merge/", people.person_merge, name="person_merge"),
    path("people/<int:pk>/delete/", people.person_delete, name="person_delete"),
    path("people/<int:pk>/export/", people.person_export, name="person_export"),
    path("unknown/", people.unknown_faces, name="unknown_faces"),
    path("unknown/assign/", people.unknown_assign, name="unknown_assign"),
    path("unknown/hide/", people.unknown_hide, name="unknown_hide"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("account/api-token/", account.api_token, name="api_token"),
    path("dashboard/health/", dashboard.dashboard_health, name="dashboard_health"),
]
