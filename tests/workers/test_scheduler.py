"""The periodic scheduler runs every job at start and then at its interval."""


def test_due_jobs_follow_their_intervals(app):
    """Never-run jobs are due; then each waits for its own interval."""
    from workers.scheduler import Job, due

    a, b = Job("a", 30, lambda: None), Job("b", 3600, lambda: None)
    assert due([a, b], {}, 100.0) == [a, b]
    last = {"a": 100.0, "b": 100.0}
    assert due([a, b], last, 129.0) == []
    assert due([a, b], last, 130.0) == [a]
    assert due([a, b], last, 3700.0) == [a, b]


def test_every_recurring_job_is_a_declared_actor(app):
    """Outbox sweep, hold expiry and the daily records job are scheduled."""
    from workers.scheduler import jobs

    names = {j.name: j for j in jobs()}
    assert {"outbox sweep", "expired holds"} <= set(names)
    assert any(n.startswith("records daily") for n in names)
    assert all(callable(j.send) for j in names.values())
