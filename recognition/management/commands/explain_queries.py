"""``python manage.py explain_queries [--photos 100000] [--json FILE]``."""

import json
import re
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

# Tables that grow with the photos: reading one whole is what this command looks for.
BIG_TABLES = ("recognition_photo", "recognition_face")


class Command(BaseCommand):
    help = (
        "The database at scale: in a throwaway database filled with --photos photos (one face "
        "each; a few thousand people, one reference each), opens the history, people, "
        "timeline, dashboard and unknown-faces pages, the photo list API and the gallery as "
        "their users would, and EXPLAINs every query they run: its time, and whether it reads "
        "a whole photo or face table or sorts one. Exits 1 when a query that should use an "
        "index reads a whole table (counts and statistics over every photo a user may see are "
        "reported, not failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--photos", type=int, default=100_000)
        parser.add_argument("--json", type=Path, help="also write the report to this file")

    def handle(self, *args, **options):
        from recognition.management.throwaway import throwaway_database

        with throwaway_database("explain_queries"):
            report = self._run(options["photos"])
        if options["json"] is not None:
            options["json"].write_text(json.dumps(report, indent=2) + "\n")
        failed = [q for path in report["paths"] for q in path["queries"] if q["fails"]]
        if failed:
            raise CommandError(f"{len(failed)} queries read a whole table: see above")

    def _run(self, count: int) -> dict:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.urls import reverse

        from recognition import selectors, services

        started = time.perf_counter()
        staff, user, person, face = _fill(count)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(f"{count:,} photos and faces in {time.perf_counter() - started:.0f} s "
                          f"({connection.vendor})")
        paths = [
            ("history, staff", staff, reverse("recognition:history")),
            ("history, a user", user, reverse("recognition:history")),
            ("history, one person", staff, reverse("recognition:history") + f"?person={person}"),
            ("history, page 50", user, reverse("recognition:history") + "?page=50"),
            ("timeline", staff, reverse("recognition:person_timeline", args=[person])),
            ("people", staff, reverse("recognition:person_list")),
            ("person", staff, reverse("recognition:person_detail", args=[person])),
            ("dashboard, a user", user, reverse("recognition:dashboard")),
            ("unknown faces", staff, reverse("recognition:unknown_faces")),
            ("photos API, a user", user, reverse("api:photos")),
            ("face everywhere", staff, reverse("recognition:face_everywhere", args=[face])),
        ]
        clients = {}
        for who in (staff, user):
            clients[who.pk] = Client()
            clients[who.pk].force_login(get_user_model().objects.get(pk=who.pk))
        report = {"photos": count, "vendor": connection.vendor, "paths": []}

        def explain(name: str, run) -> None:
            run()  # warm: sessions, caches, the gallery
            with CaptureQueriesContext(connection) as captured:
                run()
            queries = [_explained(connection, query["sql"]) for query in captured.captured_queries
                       if query["sql"].startswith("SELECT")]  # not PostgreSQL's cursors
            report["paths"].append({"path": name, "queries": queries})
            self.stdout.write(f"{name}: {len(queries)} queries, "
                              f"{sum(q['ms'] for q in queries):.1f} ms")
            for query in queries:
                if query["whole_tables"] or query["fails"]:
                    verdict = "FAILS" if query["fails"] else "reads"
                    self.stdout.write(f"  {verdict} whole {', '.join(query['whole_tables'])} "
                                      f"({query['ms']:.1f} ms): {query['sql'][:160]}")

        for name, who, url in paths:
            explain(name, lambda who=who, url=url: _get(clients[who.pk], url))
        version = services.model_version()
        selectors.gallery_cache_clear()
        explain("gallery, read whole", lambda: (selectors.gallery_cache_clear(),
                                                selectors.gallery_get(model_version=version)))
        explain("gallery, unchanged", lambda: selectors.gallery_get(model_version=version))
        return report


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}")
    response.close()


# Queries allowed to read every photo a user may see: counting them (a page's "of N"), and the
# dashboard's statistics over all of them.
WHOLE_ALLOWED = re.compile(r"^SELECT (COUNT\(|MIN\(|MAX\(|.*GROUP BY)", re.DOTALL)


def _explained(connection, sql: str) -> dict:
    """The plan of one query, its time, the big tables it reads whole (or sorts whole), and
    whether that fails the check."""
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql)
        cursor.fetchall()
        ms = (time.perf_counter() - started) * 1000
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = [row[-1] for row in cursor.fetchall()]
            whole = sorted({table for line in plan for table in BIG_TABLES
                            if re.match(rf"SCAN {table}\b(?! USING COVERING)", line.strip())})
        else:
            cursor.execute("EXPLAIN " + sql)
            plan = [row[0] for row in cursor.fetchall()]
            whole = sorted({table for line in plan for table in BIG_TABLES
                            if re.search(rf"Seq Scan on {table}\b", line)})
    # A page of photos sorted after reading every photo, not read in an index's order.
    sorts = any("TEMP B-TREE FOR ORDER BY" in line or re.search(r"\bSort\b", line)
                for line in plan)
    if " LIMIT " in sql and re.match(r'SELECT .*? FROM "recognition_photo"', sql, re.DOTALL) \
            and "recognition_photo" in whole and sorts:
        whole = sorted({*whole, "recognition_photo (sorted)"})
    if " LIMIT " in sql and not sorts:
        whole = []  # read in an index's order (or the table's), stopping at its page
    fails = bool(whole) and not WHOLE_ALLOWED.match(sql)
    return {"sql": sql, "ms": ms, "plan": plan, "whole_tables": whole, "fails": fails}


def _fill(count: int):
    """``count`` photos of two users (a tenth the staff member's), half with a date taken, one
    face each; a person per 30 photos, enrolled with the first photos (their reference), a
    third of the faces named, the rest unknown, grouped or alone, a tenth of them possibly
    someone. Returns (staff, user, a person's id, a face's id)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from recognition import services
    from recognition.models import Face, Person, Photo

    users = get_user_model().objects
    staff = users.create_user("staff", password="x", is_staff=True)
    user = users.create_user("user", password="x")
    rng = np.random.default_rng(0)
    people = Person.objects.bulk_create(
        Person(name=f"Person {i}") for i in range(max(1, count // 30)))
    version = services.model_version()
    now = timezone.now()
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        photos = Photo.objects.bulk_create(
            Photo(file=f"photos/{start + i}.jpg", status=Photo.Status.DONE,
                  # The first photos enrolled the people, one each.
                  purpose="enrol" if start + i < len(people) else "recognise",
                  person=people[start + i] if start + i < len(people) else None,
                  content_hash=f"{start + i:064x}", size_bytes=1000,
                  uploaded_by=staff if (start + i) % 10 == 0 else user,
                  taken_at=now - timedelta(hours=start + i) if i % 2 else None)
            for i in range(size))
        vectors = rng.standard_normal((size, 128)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        faces = []
        for i, photo in enumerate(photos):
            n = start + i
            person = people[n % len(people)] if n % 3 == 0 else None
            if n < len(people):
                person = people[n]
            reference = n < len(people)
            # Unknown faces: grouped in fives, or alone (-1); a tenth possibly someone.
            cluster = None if person else (n // 15 if n % 5 else -1)
            candidate = people[n % len(people)] if not person and n % 10 == 1 else None
            faces.append(Face(
                photo=photo, box=[10, 10, 60, 60], landmarks=[[0, 0]] * 5, detection_score=0.99,
                embedding=vectors[i].tobytes(), model_version=version,
                expression="neutral", expression_scores={"neutral": 1.0}, person=person,
                decision=(Face.Decision.ASSIGNED if reference else Face.Decision.AUTO
                          if person else Face.Decision.UNKNOWN),
                is_reference=reference, cluster=cluster, candidate=candidate,
                distance=0.3 if person else 0.9, age=30.0, gender="female"))
        Face.objects.bulk_create(faces)
    face = Face.objects.filter(person=people[0]).order_by("id").first()
    return staff, user, people[0].pk, face.pk
