"""The benchmark harness: interleaving, summaries, memory readout and the dlib worker."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("benchmark", REPO / "bench" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def test_interleave_warms_up_then_rotates_which_side_goes_first():
    calls = []

    def side(name):
        return lambda item: calls.append((name, item)) or {"ms": 1.0, "cpu_ms": 1.0, "faces": 0}

    result = benchmark.interleave(["a", "b"], {"x": side("x"), "y": side("y")}, repeats=2)

    assert calls[:4] == [("x", "a"), ("y", "a"), ("x", "b"), ("y", "b")]  # untimed warm-up
    assert calls[4:] == [
        ("x", "a"), ("y", "a"), ("y", "b"), ("x", "b"),  # repeat 0
        ("y", "a"), ("x", "a"), ("x", "b"), ("y", "b"),  # repeat 1
    ]  # fmt: skip
    assert {name: len(t) for name, t in result.items()} == {"x": 4, "y": 4}


def test_summary_gives_per_face_median_quartiles_and_cores():
    timings = [{"ms": ms, "cpu_ms": ms * 2, "faces": 8} for ms in (80.0, 160.0, 240.0)]

    s = benchmark.summary(timings, per=8)

    assert (s["median_ms"], s["p25_ms"], s["p75_ms"]) == (20.0, 15.0, 25.0)
    assert s["median_cpu_ms"] == 40.0 and s["cores"] == 2.0
    assert s["n"] == 3 and s["faces"] == [8, 8, 8]


def fake_report(ratios: dict[str, float]) -> dict:
    """A report as ``run`` returns it, with dlib at 100 ms and ours at ``ratio`` x 100 ms."""

    def side(ms, faces):
        spread = {"p25_ms": ms, "p75_ms": ms, "n": 1, "cores": 1.0}
        return {"median_ms": ms, "median_cpu_ms": ms, **spread, "faces": faces}

    rows = {}
    for key in benchmark.LABELS:
        ms = 100.0 * ratios.get(key, 1.0)
        rows[key] = {"ours": side(ms, [1]), "dlib": side(100.0, [1])}
    rows["detect"]["mtcnn"] = side(95.0, [1])
    info = {"dlib": "20.0.1", "face_recognition": "1.3.0", "blas": False, "lapack": False}
    return {
        "reference": {**info, "avx": True},
        "threads": {"tf_intra_op": 2},
        "machine": "x86_64, 2 cores",
        "repeats": 1,
        "rows": rows,
        "expression_8": {"fer_resnet": side(3.5, [8]), "age_gender+mirror": side(2.5, [8]),
                         "shipped": side(4.1, [8])},
        "memory": {"ours_mib": 600.0, "dlib_mib": 300.0},
    }


def test_the_table_gives_each_ratio_and_marks_targets_met_and_missed(capsys):
    benchmark.print_table(fake_report({"embed_8": 0.2, "detect": 0.7, "e2e_1": 0.5}))

    lines = {line[:29].strip(): line for line in capsys.readouterr().out.splitlines()}
    # ratio, target, CPU-time ratio, cores ours/dlib, mark
    embed_8 = lines["embed, per face, batch 8"].split()[-5:]
    assert embed_8 == ["0.20", "0.25", "0.20", "1.0/1.0", "ok"]
    assert lines["detect, per 640x480 photo"].endswith("MISS")
    assert lines["end to end, 1-face 640x480"].endswith("ok")  # the target is inclusive
    assert not lines["end to end, WIDER (context)"].endswith(("ok", "MISS"))  # no target
    assert " 0.95 " in lines["packaged mtcnn (context)"]
    assert lines["peak RSS, MiB (fresh process)"].split()[-3:] == ["600", "300", "2.00"]
    # The networks without a reference: milliseconds per face against a target where one is set.
    assert lines["fer_resnet"].endswith("target 3 ms MISS")
    assert lines["age_gender+mirror"].endswith("target 3 ms ok")
    assert lines["shipped"].split() == ["shipped", "4.10", "4.10-4.10"]


def test_peak_rss_reads_a_process_and_grows_with_what_it_touches():
    def peak_of_a_process_holding(mib: int) -> float:
        # A fresh process: this one's peak is already as high as the tests before made it.
        code = f"import sys; block = bytearray({mib} << 20); print(flush=True); sys.stdin.read()"
        with subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as process:
            process.stdout.readline()  # the block is allocated and zero-filled: pages touched
            peak = benchmark.peak_rss_mib(process.pid)
            process.stdin.close()
        return peak

    small, large = peak_of_a_process_holding(0), peak_of_a_process_holding(64)

    assert benchmark.peak_rss_mib() > 1
    assert small > 1 and large >= small + 60


def test_the_dlib_worker_answers_and_times_an_encoding(data_dir):
    if not benchmark.BENCH_PYTHON.is_file():
        pytest.skip(f"{benchmark.BENCH_PYTHON} not found: `make bench-setup` creates it")
    photo = data_dir / "samples" / "face_recognition_samples" / "examples" / "obama.jpg"
    worker = benchmark.DlibWorker(benchmark.BENCH_PYTHON)
    try:
        info = worker("info")
        boxes = worker("locate", path=str(photo))["boxes"]
        timing = worker("encode", items=[[str(photo), boxes[0]]])
    finally:
        worker.close()

    assert info["dlib"] and json.dumps(info)
    assert len(boxes) == 1 and len(boxes[0]) == 4
    assert timing["faces"] == 1 and timing["ms"] > 0 and timing["cpu_ms"] > 0


@pytest.mark.slow  # loads TensorFlow, our models and dlib's
def test_a_small_real_run_times_both_sides_on_the_same_photo(samples_dir):
    if not benchmark.BENCH_PYTHON.is_file():
        pytest.skip(f"{benchmark.BENCH_PYTHON} not found: `make bench-setup` creates it")
    benchmark.loader.install_models()  # idempotent: converts only what is missing
    photo = samples_dir / "face_recognition_samples" / "examples" / "obama.jpg"
    worker = benchmark.DlibWorker(benchmark.BENCH_PYTHON)
    try:
        result = benchmark.interleave(
            [photo],
            {
                "ours": lambda p: benchmark.timed(lambda: benchmark.our_analyse(p)),
                "dlib": lambda p: worker("analyse", path=str(p)),
            },
            repeats=2,
        )
    finally:
        worker.close()

    for side in ("ours", "dlib"):
        summary = benchmark.summary(result[side])
        assert summary["faces"] == [1, 1] and summary["n"] == 2
        assert 0 < summary["p25_ms"] <= summary["median_ms"] <= summary["p75_ms"]
        assert 0 < summary["cores"] < 3  # CPU time over wall time on a 2-core machine


@pytest.mark.slow
def test_benchmark_live_times_identify_requests_through_the_whole_stack(samples_dir, tmp_path):
    out = tmp_path / "live.json"
    examples = samples_dir / "face_recognition_samples" / "examples"
    done = subprocess.run(
        [sys.executable, "manage.py", "benchmark_live", "--requests", "3", "--json", str(out),
         "--photo", str(examples / "obama.jpg"), "--enrol", str(examples / "obama2.jpg")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["requests"] == 3 and figures["named"] == 3  # the enrolled person, each time
    assert 0 < figures["analysis_p50_ms"] < figures["p50_ms"] <= figures["p95_ms"]
    assert "identify, 3 requests" in done.stdout


@pytest.mark.slow
def test_explain_queries_finds_no_page_that_reads_every_photo(tmp_path):
    """20,000 photos: enough for both databases' planners to prefer the indexes they would at
    100,000 (at a few thousand rows reading a whole table is rightly the cheaper plan)."""
    out = tmp_path / "explain.json"
    done = subprocess.run(
        [sys.executable, "manage.py", "explain_queries", "--photos", "20000", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    paths = {path["path"]: path["queries"] for path in report["paths"]}
    assert {"history, staff", "history, a user", "people", "timeline", "gallery, unchanged",
            "face everywhere"} <= set(paths)
    for name in ("history, staff", "history, a user", "history, page 50", "people", "timeline"):
        pages = [q for q in paths[name] if " LIMIT " in q["sql"] and "recognition_" in q["sql"]]
        assert pages and not any(q["whole_tables"] for q in pages), name


@pytest.mark.django_db
def test_explain_flags_a_page_sorted_after_reading_every_photo():
    from django.db import connection

    from recognition.management.commands.explain_queries import _explained
    from tests.factories import make_photo

    for _ in range(3):
        make_photo()
    sorted_page = _explained(
        connection, 'SELECT "id" FROM "recognition_photo" ORDER BY "size_bytes" LIMIT 2')
    assert sorted_page["fails"] and "recognition_photo (sorted)" in sorted_page["whole_tables"]
    counted = _explained(connection, 'SELECT COUNT(*) FROM "recognition_photo"')
    assert not counted["fails"]


@pytest.mark.slow
def test_benchmark_scale_imports_with_one_and_two_real_workers(data_dir, tmp_path):
    from recognition.management.processes import REDIS_SERVER

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    out = tmp_path / "import.json"
    done = subprocess.run(
        [sys.executable, "manage.py", "benchmark_scale", "--references", "", "--import-photos",
         "4", "--import-images", str(data_dir / "lfw-dev" / "images"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["import_photos_per_minute"]) == {"1", "2"}
    assert all(v > 0 for v in report["import_photos_per_minute"].values())
    assert report["import_speedup"]["2"] > 0
    assert "4 photos (4 faces) analysed" in done.stdout
