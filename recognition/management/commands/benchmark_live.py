"""``python manage.py benchmark_live [--photo FILE] [--enrol FILE] [--requests N] [--json OUT]``."""

import json
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SAMPLES = settings.FACEWEB_DATA_DIR / "samples" / "face_recognition_samples"


class Command(BaseCommand):
    help = (
        "Server identification as the Live page asks for it: the face cut from a 640x480 "
        "camera frame with the page's margin, posted as a JPEG to /api/v1/identify/ through "
        "the whole Django stack (in a throwaway test database with the person enrolled), one "
        "request after another. Prints the time per request (p50, p95) and how much of it the "
        "analysis takes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--photo", type=Path, default=SAMPLES / "examples" / "obama.jpg",
                            help="the camera's picture (framed as a webcam would)")
        parser.add_argument("--enrol", type=Path, default=SAMPLES / "examples" / "obama2.jpg",
                            help="another photo of the same person, to enrol")
        parser.add_argument("--requests", type=int, default=30)
        parser.add_argument("--json", type=Path, help="also write the figures to this file")

    def handle(self, *args, **options):
        for path in (options["photo"], options["enrol"]):
            if not path.is_file():
                raise CommandError(f"{path} not found")
        from recognition.management.throwaway import throwaway_database

        with throwaway_database("benchmark_live"):
            figures = self._measure(options)
        self.stdout.write(
            f"identify, {figures['requests']} requests of a {figures['crop']} px JPEG "
            f"({figures['crop_kib']:.0f} KiB): p50 {figures['p50_ms']:.0f} ms, p95 "
            f"{figures['p95_ms']:.0f} ms per request; the analysis p50 "
            f"{figures['analysis_p50_ms']:.0f} ms of it; named right in "
            f"{figures['named']} of {figures['requests']}")
        self.stdout.write(f"first request (its models loaded by the enrolment): "
                          f"{figures['first_ms']:.0f} ms")
        if options["json"] is not None:
            options["json"].write_text(json.dumps(figures, indent=2) + "\n")

    def _measure(self, options) -> dict:
        import cv2
        from django.contrib.auth import get_user_model
        from django.core.files.uploadedfile import SimpleUploadedFile
        from rest_framework.test import APIClient
        from rest_framework.throttling import ScopedRateThrottle

        from recognition import services
        from recognition.models import Face, Person, Photo
        from recognition.pipeline import image as image_io
        from recognition.pipeline import loader

        enrol = options["enrol"]
        analysis = services.image_analyse_now(
            file=SimpleUploadedFile(enrol.name, enrol.read_bytes()))
        if len(analysis.faces) != 1:
            raise CommandError(f"{enrol} must show one face ({len(analysis.faces)} found)")
        person = Person.objects.create(name="Enrolled")
        photo = Photo.objects.create(content_hash="0" * 64, size_bytes=1,
                                     status=Photo.Status.DONE)
        face = analysis.faces[0]
        Face.objects.create(
            photo=photo, person=person, decision=Face.Decision.ASSIGNED, is_reference=True,
            box=list(face.detection.box), landmarks=face.detection.landmarks.tolist(),
            detection_score=face.detection.score, embedding=face.embedding.tobytes(),
            model_version=services.model_version(), expression=face.expression,
            expression_scores=face.expression_scores,
        )

        crop = self._camera_crop(options["photo"], image_io, loader, cv2)
        user = get_user_model().objects.create_user("camera", is_staff=True)
        client = APIClient()
        client.force_authenticate(user)
        # Latency, not the rate limit, is measured here.
        ScopedRateThrottle.allow_request = lambda self, request, view: True

        def post() -> tuple[float, dict]:
            started = time.perf_counter()
            response = client.post("/api/v1/identify/", {
                "image": SimpleUploadedFile("face.jpg", crop, "image/jpeg")}, format="multipart")
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise CommandError(f"identify answered {response.status_code}: {response.content}")
            return elapsed, response.json()

        first_ms, _ = post()
        times, analysis_ms, named = [], [], 0
        for _ in range(options["requests"]):
            elapsed, body = post()
            times.append(elapsed)
            analysis_ms.append(sum(body["timings_ms"].values()))
            named += any(f["person"] and f["person"]["id"] == person.pk for f in body["faces"])
        quantiles = statistics.quantiles(times, n=20)
        return {
            "requests": len(times), "p50_ms": statistics.median(times), "p95_ms": quantiles[-1],
            "analysis_p50_ms": statistics.median(analysis_ms), "first_ms": first_ms,
            "named": named, "crop": self.crop_size, "crop_kib": len(crop) / 1024,
        }

    def _camera_crop(self, path: Path, image_io, loader, cv2) -> bytes:
        """What the Live page sends: a 640x480 frame (the top of a portrait, as the browser
        tests' fake camera shows it), the face's box widened by 0.6 of its side each way."""
        rgb = image_io.load_image(path)
        frame = cv2.resize(rgb[: rgb.shape[1] * 3 // 4], (640, 480), interpolation=cv2.INTER_AREA)
        faces = loader.get_detector().detect(frame)
        if not faces:
            raise CommandError(f"no face in {path}")
        x1, y1, x2, y2 = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])).box
        grow = max(x2 - x1, y2 - y1) * 0.6
        left, top = int(max(0, x1 - grow)), int(max(0, y1 - grow))
        right, bottom = int(min(640, x2 + grow)), int(min(480, y2 + grow))
        piece = cv2.cvtColor(frame[top:bottom, left:right], cv2.COLOR_RGB2BGR)
        self.crop_size = f"{right - left}x{bottom - top}"
        ok, encoded = cv2.imencode(".jpg", piece, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise CommandError("the crop could not be encoded")
        return encoded.tobytes()
