"""What every page's template sees (settings.TEMPLATES' context processors)."""

from django.conf import settings

# Photos larger than this (longer side, pixels) are downscaled in the browser before upload,
# on every upload form: detection runs at about this size anyway, and the upload is many
# times smaller.
BROWSER_MAX_SIDE = 1600


def upload_limits(request) -> dict:
    """For the page scripts (``<body data-upload-*>``): how far to shrink a photo before
    sending it, and the largest upload the server takes."""
    return {
        "upload_max_side": BROWSER_MAX_SIDE,
        "upload_max_bytes": settings.FACEWEB_MAX_UPLOAD_BYTES,
    }


def features(request) -> dict:
    """Features a setting can turn off, so that no page shows what is not there."""
    return {"age_gender_on": settings.FACEWEB_AGE_GENDER}
