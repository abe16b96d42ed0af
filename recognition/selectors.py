"""Read-only queries, and the gallery of reference faces that ``pipeline.matching`` searches."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time

import numpy as np
from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Floor, Least
from django.utils import timezone

from recognition.models import (
    EMBEDDING_DTYPE,
    EMBEDDING_SIZE,
    AuditEvent,
    Batch,
    Face,
    Person,
    Photo,
)
from recognition.pipeline import matching, vector_index
from recognition.pipeline.types import EXPRESSIONS

# Per process (each worker process keeps its own): model version -> (fingerprint, Gallery),
# the fingerprint identifying the database state the gallery was read from.
_gallery_cache: dict[str, tuple[tuple, matching.Gallery | matching.IndexedGallery]] = {}
# The same for every face of a model version, for finding a face everywhere, and the lock that
# keeps its reads and updates apart.
_face_index_cache: dict[str, tuple[tuple, vector_index.UpgradingIndex]] = {}
_face_index_lock = threading.Lock()


def gallery_fingerprint(*, model_version: str) -> tuple:
    """One cheap query that changes whenever the gallery does, whichever process changed it.

    Adding or re-pointing a reference saves its ``updated_at`` (newer than any before);
    removing one, by any path including cascades, lowers the count.
    """
    row = Face.objects.filter(is_reference=True, model_version=model_version).aggregate(
        count=Count("id"), newest=Max("updated_at")
    )
    return (row["count"], row["newest"])


def gallery_get(*, model_version: str) -> matching.Gallery | matching.IndexedGallery:
    """The gallery for ``model_version``, re-read from the database only when it changed.

    Up to FACEWEB_GALLERY_INDEX_ABOVE references it is an exact ``Gallery``, read whole on a
    change; above, an ``IndexedGallery`` that takes changes in place: the references saved
    since the last read are added (or removed, if no longer references), and only when some
    were deleted as well are the reference ids (not their descriptors) read to find which.
    """
    fingerprint = gallery_fingerprint(model_version=model_version)
    cached = _gallery_cache.get(model_version)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    if (cached is not None and isinstance(cached[1], matching.IndexedGallery)
            and fingerprint[0] > settings.FACEWEB_GALLERY_INDEX_ABOVE):
        gallery = cached[1]
        _gallery_update(gallery, since=cached[0][1], count=fingerprint[0])
    else:
        gallery = _gallery_read(model_version, count=fingerprint[0])
    _gallery_cache[model_version] = (fingerprint, gallery)
    return gallery


def _vectors(blobs) -> np.ndarray:
    joined = b"".join(bytes(blob) for blob in blobs)
    return np.frombuffer(joined, dtype=EMBEDDING_DTYPE).reshape(-1, EMBEDDING_SIZE)


def _gallery_read(model_version: str, *, count: int):
    rows = list(
        Face.objects.filter(is_reference=True, model_version=model_version).values_list(
            "id", "person_id", "embedding"
        )
    )
    vectors = _vectors(blob for _, _, blob in rows)
    person_ids = [person_id for _, person_id, _ in rows]
    if count > settings.FACEWEB_GALLERY_INDEX_ABOVE:
        return matching.IndexedGallery(keys=[pk for pk, _, _ in rows], embeddings=vectors,
                                       person_ids=person_ids, version=model_version)
    return matching.Gallery(embeddings=vectors, person_ids=person_ids, version=model_version)


def _gallery_update(gallery: matching.IndexedGallery, *, since, count: int) -> None:
    references = Face.objects.filter(is_reference=True, model_version=gallery.version)

    def add(rows) -> None:
        rows = list(rows)
        if rows:
            gallery.add([row[0] for row in rows], _vectors(row[2] for row in rows),
                        [row[1] for row in rows])

    changed = list(
        Face.objects.filter(model_version=gallery.version, updated_at__gt=since).values_list(
            "id", "person_id", "embedding", "is_reference"
        )
    )
    gallery.remove([row[0] for row in changed if not row[3] or row[1] is None])
    add(row for row in changed if row[3] and row[1] is not None)
    _reconcile(gallery, references, count=count, read=lambda ids: add(
        references.filter(id__in=ids).values_list("id", "person_id", "embedding")))


def _reconcile(index, faces: QuerySet[Face], *, count: int, read) -> None:
    """When ``index`` does not hold ``count`` faces after taking the changed ones in, some
    were deleted, or committed late with an older ``updated_at``: compare ids (not
    descriptors) with ``faces``, remove the gone and ``read(ids)`` the missing."""
    if len(index) == count:
        return
    present = np.fromiter(faces.values_list("id", flat=True), np.int64)
    keys = index.keys()
    index.remove(keys[~np.isin(keys, present)])
    missing = present[~np.isin(present, keys)]
    if len(missing):
        read(missing.tolist())


def face_index_get(*, model_version: str) -> vector_index.UpgradingIndex:
    """Every face of ``model_version`` (not only references) in an index keyed by face id,
    for finding a face everywhere; kept per process and updated in place like the gallery.

    It is exact at first (reading the faces and a search each take a few seconds and 60 ms
    at a million faces; an approximate index takes minutes to build there, longer than a
    request may wait). Above FACEWEB_GALLERY_INDEX_ABOVE faces an approximate one is built
    from it in the background, and takes over once built.
    """
    faces = Face.objects.filter(model_version=model_version)
    with _face_index_lock:
        row = faces.aggregate(count=Count("id"), newest=Max("updated_at"))
        fingerprint = (row["count"], row["newest"])
        cached = _face_index_cache.get(model_version)
        if cached is None or cached[0][1] is None:
            index = vector_index.UpgradingIndex(
                approximate_above=settings.FACEWEB_GALLERY_INDEX_ABOVE)
            _faces_add(faces.values_list("id", "embedding"), index)
        else:
            index = cached[1]
            if cached[0] != fingerprint:
                _faces_add(faces.filter(updated_at__gt=cached[0][1])
                           .values_list("id", "embedding"), index)
                _reconcile(index, faces, count=fingerprint[0], read=lambda ids: _faces_add(
                    faces.filter(id__in=ids).values_list("id", "embedding"), index))
        _face_index_cache[model_version] = (fingerprint, index)
        return index


def _faces_add(rows, index) -> None:
    rows = list(rows)
    if rows:
        index.add([pk for pk, _ in rows], _vectors(blob for _, blob in rows))


def gallery_cache_clear() -> None:
    """Forget cached galleries and face indexes, once their builds are done (tests)."""
    for _, index in _face_index_cache.values():
        index.wait()
    for _, gallery in _gallery_cache.values():
        if isinstance(gallery, matching.IndexedGallery):
            gallery.index.wait()
    _gallery_cache.clear()
    _face_index_cache.clear()


# --- Photos, people and statistics for the pages and the API -----------------------------------

# When a photo was taken, as far as anyone knows: its EXIF, else its upload.
WHEN = Coalesce("taken_at", "created_at")


def photos_visible_to(*, user) -> QuerySet[Photo]:
    """Staff see every photo; anyone else only the photos they uploaded; anonymous, none."""
    if not user.is_authenticated:
        return Photo.objects.none()
    return Photo.objects.all() if user.is_staff else Photo.objects.filter(uploaded_by=user)


def photo_list(
    *,
    user,
    person_id: int | None = None,
    expression: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    unknown_only: bool = False,
    age_from: int | None = None,
    age_to: int | None = None,
    gender: str | None = None,
) -> QuerySet[Photo]:
    """Photos ``user`` may see, newest first by ``when`` (taken, from the EXIF, else uploaded),
    with uploader and faces (and their people).

    Filters: a face of ``person_id``; a face showing ``expression``; a face estimated
    ``age_from`` to ``age_to`` years old (inclusive, whole years) and of ``gender`` (all of
    these on the same face); ``when`` from ``date_from`` to ``date_to`` inclusive (dates in
    TIME_ZONE); at least one unknown face. Faces come without their embeddings.
    """
    photos = photos_visible_to(user=user).annotate(when=WHEN).order_by("-when", "-id")
    face_filters = {
        "person_id": person_id, "expression": expression or None, "gender": gender or None,
        "age__gte": age_from, "age__lt": None if age_to is None else age_to + 1,
    }
    face_filters = {key: value for key, value in face_filters.items() if value is not None}
    # Photos with such a face: the faces found by their own indexes, then their photos.
    if face_filters:
        photos = photos.filter(pk__in=Face.objects.filter(**face_filters).values("photo_id"))
    if unknown_only:
        unknown = Face.objects.filter(decision=Face.Decision.UNKNOWN).values("photo_id")
        photos = photos.filter(pk__in=unknown)
    if date_from is not None:
        photos = photos.filter(when__date__gte=date_from)
    if date_to is not None:
        photos = photos.filter(when__date__lte=date_to)
    faces = Face.objects.select_related("person", "candidate").defer("embedding")
    return photos.select_related("uploaded_by").prefetch_related(Prefetch("faces", faces))


@dataclass(frozen=True)
class BatchSummary:
    """What became of a batch's photos: each photo counts once, in the first that fits."""

    photos: int
    waiting: int  # not analysed yet
    failed: int
    no_face: int
    unknown: int  # with at least one unknown face
    known: int  # every face recognised or confirmed


def batch_get(*, user, batch_id: int | None) -> Batch | None:
    """The batch if ``user`` may see it (theirs; staff: any), else None."""
    if batch_id is None:
        return None
    batches = Batch.objects.all() if user.is_staff else Batch.objects.filter(user=user)
    return batches.filter(pk=batch_id).first()


def batch_photos(*, user, batch: Batch) -> QuerySet[Photo]:
    """The batch's photos ``user`` may see, newest first, as ``photo_list`` gives them."""
    return photo_list(user=user).filter(batch=batch).order_by("-created_at", "-id")


def batch_summary(photos) -> BatchSummary:
    """Counts over ``photos`` (with their faces prefetched, as ``batch_photos`` gives them)."""
    counts = dict.fromkeys(("waiting", "failed", "no_face", "unknown", "known"), 0)
    photos = list(photos)
    for photo in photos:
        faces = photo.faces.all()
        if photo.status in (Photo.Status.PENDING, Photo.Status.PROCESSING):
            counts["waiting"] += 1
        elif photo.status == Photo.Status.FAILED:
            counts["failed"] += 1
        elif not faces:
            counts["no_face"] += 1
        elif any(face.person_id is None for face in faces):
            counts["unknown"] += 1
        else:
            counts["known"] += 1
    return BatchSummary(photos=len(photos), **counts)


def person_timeline(*, user, person_id: int) -> QuerySet[Face]:
    """Every face of a person in the photos ``user`` may see, newest photo first by ``when``
    (the photo taken, else uploaded)."""
    return (
        faces_visible_to(user=user).filter(person_id=person_id)
        .select_related("photo", "photo__uploaded_by")
        .defer("embedding")
        .annotate(when=Coalesce("photo__taken_at", "photo__created_at"))
        .order_by("-when", "-photo_id", "id")
    )


@dataclass(frozen=True)
class Sighting:
    """A photo where a face like another is: its face nearest to that one, how near, and the
    confidence word for that distance (``matching.confidence``)."""

    face: Face
    distance: float
    confidence: str


# Finding a face everywhere fetches this many nearest faces first (more while all are near),
# and stops at EVERYWHERE_MOST photos, nearest first.
EVERYWHERE_FETCH = 64
EVERYWHERE_MOST = 1000


def face_everywhere(*, face: Face, threshold: float) -> list[Sighting]:
    """Every photo with a face like ``face`` ("possibly" the same person or nearer), nearest
    first, one per photo (its nearest face), the face's own photo left out; at most
    EVERYWHERE_MOST. Searches every face of its model version, not only references."""
    index = face_index_get(model_version=face.model_version)
    radius = threshold + matching.POSSIBLE_BAND
    probe = face.embedding_array()[None]
    fetch = EVERYWHERE_FETCH
    while True:  # more faces until one beyond the radius, or enough photos for sure
        keys, distances = (row[0] for row in index.search(probe, fetch))
        near = distances <= radius
        if not near.all() or fetch >= len(index) or fetch >= 8 * EVERYWHERE_MOST:
            break
        fetch *= 4
    distance_of = dict(zip(keys[near].tolist(), distances[near].tolist(), strict=True))
    faces = (Face.objects.filter(pk__in=distance_of).exclude(photo_id=face.photo_id)
             .select_related("photo", "person").defer("embedding"))
    nearest: dict[int, Face] = {}
    for other in sorted(faces, key=lambda f: distance_of[f.pk]):
        nearest.setdefault(other.photo_id, other)
    return [
        Sighting(other, distance_of[other.pk],
                 matching.confidence(distance_of[other.pk], threshold))
        for other in list(nearest.values())[:EVERYWHERE_MOST]
    ]


def person_list() -> QuerySet[Person]:
    """People by name, with ``n_references`` and ``n_faces`` counted, ``enrolling`` (an
    enrolment photo of theirs is still being analysed), and their reference faces prefetched
    as ``references``, best quality first (the first is their thumbnail)."""
    references = Face.objects.filter(is_reference=True).defer("embedding").order_by(
        F("quality").desc(nulls_last=True), "-id")
    unfinished = (Photo.Status.PENDING, Photo.Status.PROCESSING)
    faces = Face.objects.filter(person=OuterRef("pk"))
    # Counted per person in subqueries, so a page of people counts only its own faces.
    return Person.objects.annotate(
        n_faces=_count(faces), n_references=_count(faces.filter(is_reference=True)),
        enrolling=Exists(Photo.objects.filter(person=OuterRef("pk"), status__in=unfinished)),
    ).prefetch_related(Prefetch("faces", references, to_attr="references")).order_by("name", "id")


def _count(rows: QuerySet) -> Coalesce:
    """The number of ``rows`` (filtered on an OuterRef), as a subquery for annotate."""
    counted = rows.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def face_nearest_people(*, face: Face, limit: int = 5) -> list[tuple[Person, float]]:
    """The ``limit`` people whose nearest reference face is closest to ``face``, nearest first,
    with that distance. A reference face is not compared with itself."""
    gallery = gallery_get(model_version=face.model_version)
    [nearest] = matching.nearest_people(
        face.embedding_array()[None], gallery, k=limit, skip_identical=face.is_reference
    )
    people = Person.objects.in_bulk([person_id for person_id, _ in nearest])
    return [(people[pid], distance) for pid, distance in nearest if pid in people]


@dataclass(frozen=True)
class UnknownGroup:
    """Unknown faces that probably show one person (newest first), and the person the group
    looks like, if any: the nearest person to the group's mean descriptor, when that is
    "possibly" them or nearer (``matching.confidence``; None otherwise)."""

    faces: list[Face]
    looks_like: Person | None = None


@dataclass(frozen=True)
class UnknownFaces:
    possible: list[Face]  # newest unknown faces that are "possibly" someone (Face.candidate)
    groups: list[UnknownGroup]  # the largest groups shown, largest first
    total_groups: int
    alone: list[Face]  # the newest unknown faces in no group (not hidden), newest first
    waiting: int  # unknown faces not grouped yet


UNKNOWN_SHOWN = 60  # the unknown-faces page and API: groups, and faces of each kind


def unknown_faces(
    *, model_version: str, threshold: float, min_size: int, limit: int = UNKNOWN_SHOWN
) -> UnknownFaces:
    """Unknown faces: up to ``limit`` that are possibly someone; as the grouping task left them
    (``Face.cluster``), the ``limit`` largest groups still holding ``min_size`` faces, and up
    to ``limit`` faces in none."""
    unknown = Face.objects.filter(decision=Face.Decision.UNKNOWN, model_version=model_version)
    # Group sizes counted in the database; only the faces of the groups shown are read.
    sizes = unknown.filter(cluster__gte=0).values("cluster").annotate(n=Count("id"))
    shown = list(sizes.filter(n__gte=min_size).order_by("-n", "cluster")
                 .values_list("cluster", flat=True)[:limit])
    by_cluster: dict[int, list[Face]] = {cluster: [] for cluster in shown}
    for face in unknown.filter(cluster__in=shown).order_by("cluster", "-id"):
        by_cluster[face.cluster].append(face)
    groups = list(by_cluster.values())
    # Faces alone, and those of groups shrunk below min_size (some were named).
    alone = list(unknown.filter(
        Q(cluster=-1, cluster_hidden=False)
        | Q(cluster__in=sizes.filter(n__lt=min_size).values("cluster"))
    ).order_by("-id")[:limit])
    total = sizes.filter(n__gte=min_size).count()
    looks_like: list[int | None] = [None] * len(groups)
    if groups:
        means = np.stack([np.mean([f.embedding_array() for f in g], axis=0) for g in groups])
        nearest = matching.nearest_people(
            means / np.linalg.norm(means, axis=1, keepdims=True),
            gallery_get(model_version=model_version), k=1,
        )
        looks_like = [
            near[0][0] if near and near[0][1] <= threshold + matching.POSSIBLE_BAND else None
            for near in nearest
        ]
    people = Person.objects.in_bulk({pid for pid in looks_like if pid is not None})
    return UnknownFaces(
        possible=list(
            unknown.filter(candidate__isnull=False).select_related("candidate").order_by("-id")
            [:limit]
        ),
        groups=[
            UnknownGroup(g, people.get(pid)) for g, pid in zip(groups, looks_like, strict=True)
        ],
        total_groups=total,
        alone=alone,
        waiting=Face.objects.filter(decision=Face.Decision.UNKNOWN, cluster__isnull=True).count(),
    )


@dataclass(frozen=True)
class DashboardStats:
    """Counts over the photos a user may see (see ``dashboard_stats``)."""

    people: int
    photos: int
    faces: int
    recognised: int
    unknown: int
    statuses: dict[str, int]  # photo status -> count, every status present
    per_day: list[tuple[date, int, int]]  # (day, recognised faces, unknown faces), oldest first
    expressions: dict[str, int]  # expression -> faces, every expression present
    expressions_by_person: list[tuple[str, dict[str, int]]]  # most seen people first
    recent: list[Photo]
    # Estimated ages by decade ("0-9" ... "70+", every one present) and genders; empty when
    # not asked for (FACEWEB_AGE_GENDER off).
    ages: dict[str, int]
    genders: dict[str, int]


AGE_DECADES = [*(f"{d}-{d + 9}" for d in range(0, 70, 10)), "70+"]


def dashboard_stats(
    *, user, days: int = 30, top_people: int = 10, recent: int = 8, today: date | None = None,
    age_gender: bool = True,
) -> DashboardStats:
    """Counts for the dashboard over the photos ``user`` may see (staff: all), in a fixed
    number of queries. ``per_day`` covers the days up to ``today`` since the first photo, at
    least a week and at most ``days`` days, zeros included."""
    today = today or timezone.localdate()
    photos = photos_visible_to(user=user)
    first = photos.aggregate(first=Min("created_at"))["first"]
    first_day = today - timedelta(days=days - 1)
    if first is not None:
        first_day = max(first_day, min(timezone.localdate(first), today - timedelta(days=6)))
    else:
        first_day = today - timedelta(days=6)
    faces = Face.objects.filter(photo__in=photos)
    totals = faces.aggregate(
        faces=Count("id"), recognised=Count("id", filter=Q(person__isnull=False))
    )
    statuses = dict.fromkeys(Photo.Status.values, 0)
    statuses.update(photos.order_by().values_list("status").annotate(n=Count("id")))
    # Each day a pair of counts between two local midnights, in one pass over the window's
    # faces: plain comparisons the database does itself (a date cast per row is a Python
    # function call in SQLite, seconds at 100,000 photos).
    day_list = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]
    zone = timezone.get_current_timezone()
    midnight = [datetime.combine(day, dt_time.min, tzinfo=zone)
                for day in [*day_list, today + timedelta(days=1)]]
    counts = {}
    for i in range(len(day_list)):
        span = Q(photo__created_at__gte=midnight[i], photo__created_at__lt=midnight[i + 1])
        counts[f"r{i}"] = Count("id", filter=span & Q(person__isnull=False))
        counts[f"u{i}"] = Count("id", filter=span & Q(person__isnull=True))
    daily = faces.filter(photo__created_at__gte=midnight[0]).aggregate(**counts)
    expressions = dict.fromkeys(EXPRESSIONS, 0)
    expressions.update(faces.order_by().values_list("expression").annotate(n=Count("id")))
    top = (
        faces.filter(person__isnull=False).order_by().values("person_id")
        .annotate(n=Count("id")).order_by("-n", "person_id").values_list("person_id", flat=True)
    )[:top_people]
    rows = (
        faces.filter(person_id__in=list(top)).order_by()
        .values_list("person_id", "person__name", "expression").annotate(n=Count("id"))
    )
    by_person: dict[int, tuple[str, dict[str, int]]] = {}
    for person_id, name, expression, n in rows:
        by_person.setdefault(person_id, (name, dict.fromkeys(EXPRESSIONS, 0)))[1][expression] = n
    ages: dict[str, int] = {}
    genders: dict[str, int] = {}
    if age_gender:
        ages = dict.fromkeys(AGE_DECADES, 0)
        for index, n in (faces.filter(age__isnull=False).order_by()  # 70 and over: one bar
                         .annotate(decade=Floor(Least(F("age"), Value(70.0)) / 10))
                         .values_list("decade").annotate(n=Count("id"))):
            ages[AGE_DECADES[min(int(index), len(AGE_DECADES) - 1)]] = n
        genders = {"female": 0, "male": 0}
        genders.update(faces.exclude(gender="").order_by().values_list("gender")
                       .annotate(n=Count("id")))
    return DashboardStats(
        # Staff: everyone enrolled; others: the people recognised in their own photos.
        people=Person.objects.count() if user.is_staff else faces.filter(
            person__isnull=False).values("person_id").distinct().count(),
        photos=sum(statuses.values()),
        faces=totals["faces"],
        recognised=totals["recognised"],
        unknown=totals["faces"] - totals["recognised"],
        statuses=statuses,
        per_day=[(day, daily[f"r{i}"], daily[f"u{i}"]) for i, day in enumerate(day_list)],
        expressions=expressions,
        expressions_by_person=sorted(
            by_person.values(), key=lambda item: -sum(item[1].values())
        ),
        recent=list(photo_list(user=user)[:recent]),
        ages=ages,
        genders=genders,
    )


# --- For the API ---------------------------------------------------------------------------------


def faces_visible_to(*, user) -> QuerySet[Face]:
    """Faces in the photos ``user`` may see (as ``photos_visible_to``), with their person.
    Staff's are not filtered at all: a filter on every photo would make the database visit
    them all."""
    if not user.is_authenticated:
        return Face.objects.none()
    faces = Face.objects.all() if user.is_staff else Face.objects.filter(photo__uploaded_by=user)
    return faces.select_related("person", "candidate")


def person_references(*, person: Person) -> QuerySet[Face]:
    """A person's reference faces (their gallery), newest first, without embeddings."""
    return (
        Face.objects.filter(person=person, is_reference=True)
        .select_related("person").defer("embedding").order_by("-id")
    )


def photo_is_finished(*, photo_id: int) -> bool:
    """Whether analysis of the photo is over (done or failed), or the photo is gone."""
    unfinished = (Photo.Status.PENDING, Photo.Status.PROCESSING)
    return not Photo.objects.filter(pk=photo_id, status__in=unfinished).exists()


def photo_status_counts() -> dict[str, int]:
    """How many photos there are in each status, every status present."""
    counts = dict.fromkeys(Photo.Status.values, 0)
    counts.update(Photo.objects.order_by().values_list("status").annotate(n=Count("id")))
    return counts


def audit_events(
    *, action: str | None = None, actor: str | None = None, date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The audit log, newest first, filtered by action, actor name and day range."""
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_name__iexact=actor)
    if date_from:
        events = events.filter(at__date__gte=date_from)
    if date_to:
        events = events.filter(at__date__lte=date_to)
    return events
