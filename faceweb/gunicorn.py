"""gunicorn's settings for `make run` (scripts/run.py passes ``-c python:faceweb.gunicorn``)."""

_warming = False


def pre_request(worker, request) -> None:
    """A web process's first request starts warming up the models for verify and identify in
    the background (after the fork, which the interpreters' thread pools do not survive), so
    that a later verify does not wait seconds for them. Not at start: a process that never
    serves anyone holds no models (a worker child with them warmed peaked at 416 MiB,
    bench/worker_memory.py)."""
    global _warming
    if not _warming:
        _warming = True
        from recognition import services

        services.analysis_warm_up()
