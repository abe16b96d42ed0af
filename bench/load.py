"""Load on a running faceweb: N photos uploaded through the API by C concurrent clients, then
polled until every one is analysed. Prints upload latency (median, p95), the time from the
first upload until the last photo is done, and photos per minute.

    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --token TOKEN \
        [--photos DIR] [--count 100] [--clients 6] [--json OUT]

``--photos`` defaults to the LFW dev images in ../shared/data (FACEWEB_DATA_DIR); the first
``--count`` JPEG files found (sorted) are sent. Get a token on the app's "API token" page, or
with ``manage.py drf_create_token USER``. Measures the whole app as it runs (web server,
Redis, worker), so start it first, e.g. with ``make run``; the worker's first photo includes
loading its models, as after any start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")


def request(url: str, token: str, *, body: bytes | None = None, content_type: str = "") -> dict:
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers),
                                timeout=60) as response:
        return json.load(response)


def upload(base: str, token: str, path: Path) -> tuple[float, int]:
    """POST one photo; (seconds taken, photo id)."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{path.name}"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    started = time.perf_counter()
    photo = request(f"{base}/api/v1/photos/", token, body=body,
                    content_type=f"multipart/form-data; boundary={boundary}")
    return time.perf_counter() - started, photo["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--photos", type=Path, default=DATA / "lfw-dev" / "images")
    parser.add_argument("--count", type=int, default=100, help="at most 100")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    paths = sorted(args.photos.rglob("*.jpg"))[: args.count]
    if len(paths) < args.count:
        parser.error(f"{args.photos} has {len(paths)} JPEG files, fewer than --count")
    base = args.url.rstrip("/")

    first = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        uploads = list(pool.map(lambda p: upload(base, args.token, p), paths))
    uploaded = time.perf_counter() - first
    waiting = {photo_id for _, photo_id in uploads}
    failed = 0
    while waiting:
        # One request per poll for the newest 100 photos: under the API's per-user rate.
        time.sleep(0.5)
        listed = request(f"{base}/api/v1/photos/?page_size=100", args.token)["results"]
        for photo in listed:
            if photo["id"] in waiting and photo["status"] in ("done", "failed"):
                waiting.discard(photo["id"])
                failed += photo["status"] == "failed"
    total = time.perf_counter() - first

    latencies = sorted(seconds * 1000 for seconds, _ in uploads)
    report = {
        "photos": len(paths), "clients": args.clients, "failed": failed,
        "upload_p50_ms": round(statistics.median(latencies), 1),
        "upload_p95_ms": round(latencies[max(0, round(0.95 * len(latencies)) - 1)], 1),
        "uploads_s": round(uploaded, 2), "all_done_s": round(total, 2),
        "photos_per_min": round(len(paths) / total * 60),
    }
    print(f"{report['photos']} photos from {report['clients']} clients ({failed} failed): "
          f"upload p50 {report['upload_p50_ms']} ms, p95 {report['upload_p95_ms']} ms; "
          f"all done {report['all_done_s']} s after the first upload "
          f"({report['photos_per_min']} photos/min)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
