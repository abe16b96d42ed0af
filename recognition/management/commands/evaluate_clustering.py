"""``python manage.py evaluate_clustering --images DIR [--min-per-person K] [--people N]
[--per-person M] [--time-faces F] [--descriptors FILE.npz] [--json OUT]``."""

import json
import sys
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Group the faces of DIR/<Person>/*.jpg with the product's grouping of unknown faces and "
        "score it against the folders: BCubed precision, recall and F1, pairwise precision, "
        "groups, and the time to group F faces."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--images", type=Path, required=True, help="folder of <Name>/<Name>_NNNN.jpg"
        )
        parser.add_argument(
            "--min-per-person", type=int, default=4,
            help="only people with at least this many photos (default 4)",
        )
        parser.add_argument("--people", type=int, help="at most this many people (by name)")
        parser.add_argument("--per-person", type=int, help="at most this many photos each")
        parser.add_argument(
            "--time-faces", type=int, default=5000,
            help="also time the grouping of this many faces of DIR (default 5000)",
        )
        parser.add_argument(
            "--descriptors", type=Path,
            help="an .npz cache of the faces' descriptors: read if it is of this pipeline, "
            "else written",
        )
        parser.add_argument("--json", type=Path, help="also write the figures to this file")

    def handle(self, *args, **options):
        from recognition.pipeline import eval_clustering
        from recognition.services import recognise

        images: Path = options["images"]
        if not images.is_dir():
            raise CommandError(f"{images} is not a folder")
        keys = eval_clustering.select(
            images, min_per_person=options["min_per_person"], people=options["people"],
            per_person=options["per_person"],
        )
        if not keys:
            raise CommandError(f"no person under {images} has {options['min_per_person']} photos")
        extra = sorted(
            {(f.parent.name, int(f.stem.rpartition("_")[2])) for f in images.glob("*/*.jpg")}
            - set(keys)
        )[: max(0, options["time_faces"] - len(keys))]
        descriptors = self._descriptors(keys + extra, images, options["descriptors"])

        vectors = np.stack([descriptors[k] for k in keys])
        started = time.perf_counter()
        labels = recognise.group_unknown(vectors)
        seconds = time.perf_counter() - started
        summary = eval_clustering.summarise([name for name, _ in keys], labels) | {
            "images": str(images),
            "grouping": recognise.grouping_description(),
            "seconds": seconds,
        }
        timed = np.stack([descriptors[k] for k in keys + extra])
        started = time.perf_counter()
        recognise.group_unknown(timed)
        summary["timed_faces"], summary["timed_seconds"] = len(timed), time.perf_counter() - started
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _descriptors(self, keys, images: Path, cache: Path | None) -> dict:
        """Each photo's labelled face's descriptor (as ``evaluate_lfw`` finds it), from
        ``cache`` when it holds this pipeline's descriptors of every photo."""
        from recognition.pipeline import analyse, eval_lfw, loader, spec
        from recognition.pipeline.image import load_image

        version = spec.configured().version
        if cache is not None and cache.is_file():
            stored = np.load(cache)
            known = {
                (str(name), int(n)): vector
                for name, n, vector in zip(stored["names"], stored["numbers"], stored["vectors"],
                                           strict=True)
            }
            if str(stored["version"]) == version and all(k in known for k in keys):
                return known
        try:
            detector, embedder = loader.get_detector(), loader.get_embedder()
        except (OSError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc

        def describe(image, landmarks):
            chips, mirrored = analyse.align_faces(image, landmarks, template=detector.template)
            return analyse.describe(embedder, chips, mirrored), {}

        def progress(done: int, total: int) -> None:
            if done % 500 == 0 or done == total:
                sys.stderr.write(f"{done}/{total} photos described\n")

        descriptors, _, _ = eval_lfw.describe_images(
            keys, images=images, load=load_image, detect=detector.detect, describe=describe,
            progress=progress,
        )
        if cache is not None:
            names, numbers = zip(*descriptors, strict=True)
            np.savez(cache, version=version, names=np.array(names), numbers=np.array(numbers),
                     vectors=np.stack(list(descriptors.values())))
        return descriptors

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        write(f"{s['faces']} faces of {s['people']} people from {s['images']}; {s['grouping']}")
        write(f"{s['groups']} groups holding {s['faces_grouped']} faces (the rest: one each)")
        write(
            f"BCubed precision {s['bcubed_precision']:.4f}, recall {s['bcubed_recall']:.4f}, "
            f"F1 {s['bcubed_f1']:.4f}; pairwise precision {s['pairwise_precision']:.4f}"
        )
        write(
            f"grouping took {s['seconds']:.2f} s; {s['timed_faces']} faces: "
            f"{s['timed_seconds']:.2f} s"
        )
