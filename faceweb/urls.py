from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # The REST API, with its OpenAPI schema (schema/) and docs (docs/, redoc/).
    path("api/v1/", include("recognition.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("recognition.urls")),
    # Browsers ask for it on pages that do not name an icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
]
# No URL maps onto MEDIA_ROOT, in DEBUG or not: photos and crops leave only through views
# that check who asks (recognition/files.py).
# A full disk, read-only storage or an unavailable database: 503 with what is wrong.
handler500 = "recognition.faults.server_error"
