from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The REST API, with its OpenAPI schema (schema/) and docs (docs/, redoc/).
    path("api/v1/", include("recognition.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("recognition.urls")),
]
# Uploaded photos and face crops, served by Django only in development (static() is a no-op
# with DEBUG off, where the web server in front serves MEDIA_ROOT).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
