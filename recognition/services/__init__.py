"""Every change to people, photos and faces goes through these functions.

Views, API views, admin actions and tasks only translate to and from them, through this
package (``services.photo_create``): it re-exports the public functions of its modules, each of
which imports only those listed before it:

- ``audit``: who did what to which biometric record; ``tokens``: API tokens.
- ``recognise``: the model version and match threshold; verify and identify an image now.
- ``photos``: a photo's life: upload, queue, claim, release or give up, delete, the sweeps.
- ``people``: create, rename, merge, delete and export a person.
- ``faces``: who a face is: assignment, a person's reference faces, corrections.
- ``analysis``: ``photo_analyse``, a claimed photo analysed in a worker.

Nothing here loads a model at module level: the Celery parent process imports this package,
and the interpreters' thread pools do not survive into forked children. The pipeline is
imported inside ``photo_analyse``, which only runs in a worker child.
"""

from __future__ import annotations

from recognition.services.analysis import photo_analyse
from recognition.services.audit import audit, face_searched, file_viewed
from recognition.services.faces import (
    face_assign,
    face_mark_not_a_face,
    face_mark_not_this_person,
    face_restore,
    faces_assign,
    faces_forget_age_gender,
    faces_reidentify,
    person_enrol,
    person_reference_add,
    person_reference_remove,
    unknown_faces_hide,
    unknown_faces_regroup,
)
from recognition.services.liveness import liveness_token_valid
from recognition.services.people import (
    PersonExists,
    person_create,
    person_delete,
    person_export,
    person_merge,
    person_rename,
)
from recognition.services.photos import (
    BROKER_ERRORS,
    GAVE_UP,
    JOB_GRACE_S,
    TRANSIENT_ERRORS,
    Purge,
    batch_create,
    claim_is_stale,
    files_remove_orphans,
    is_transient,
    photo_claim,
    photo_create,
    photo_delete,
    photo_give_up,
    photo_queue,
    photo_queued,
    photo_reanalyse,
    photo_release,
    photos_purge_expired,
    photos_requeue_stuck,
    user_photos_delete,
)
from recognition.services.recognise import (
    AnalysisBusy,
    Candidate,
    Identification,
    IdentifiedFace,
    NoFaceFound,
    NotLive,
    Verification,
    VerifiedFace,
    analysis_warm_up,
    image_analyse_now,
    image_identify,
    image_verify,
    is_live,
    match_threshold,
    model_version,
)
from recognition.services.tokens import token_issue, token_revoke

__all__ = [
    "BROKER_ERRORS",
    "GAVE_UP",
    "JOB_GRACE_S",
    "TRANSIENT_ERRORS",
    "AnalysisBusy",
    "Candidate",
    "Identification",
    "IdentifiedFace",
    "NoFaceFound",
    "NotLive",
    "PersonExists",
    "Purge",
    "Verification",
    "VerifiedFace",
    "analysis_warm_up",
    "audit",
    "batch_create",
    "claim_is_stale",
    "face_assign",
    "face_mark_not_a_face",
    "face_mark_not_this_person",
    "face_restore",
    "face_searched",
    "faces_assign",
    "faces_forget_age_gender",
    "faces_reidentify",
    "file_viewed",
    "files_remove_orphans",
    "image_analyse_now",
    "image_identify",
    "image_verify",
    "is_live",
    "is_transient",
    "liveness_token_valid",
    "match_threshold",
    "model_version",
    "person_create",
    "person_delete",
    "person_enrol",
    "person_export",
    "person_merge",
    "person_reference_add",
    "person_reference_remove",
    "person_rename",
    "photo_analyse",
    "photo_claim",
    "photo_create",
    "photo_delete",
    "photo_give_up",
    "photo_queue",
    "photo_queued",
    "photo_reanalyse",
    "photo_release",
    "photos_purge_expired",
    "photos_requeue_stuck",
    "token_issue",
    "token_revoke",
    "unknown_faces_hide",
    "unknown_faces_regroup",
    "user_photos_delete",
]
