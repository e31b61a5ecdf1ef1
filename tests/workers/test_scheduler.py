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


def test_reminders_are_planned_periodically(app):
    from workers.reminders import sweep_reminders
    from workers.scheduler import jobs

    (job,) = [j for j in jobs() if j.name == "appointment reminders"]
    assert job.every <= 600 and job.send == sweep_reminders.send


def test_worker_and_scheduler_commands_exist():
    """``saas worker`` and ``saas scheduler`` are part of the command line."""
    from click.testing import CliRunner

    from saas.cli import main

    runner = CliRunner()
    worker = runner.invoke(main, ["worker", "--help"])
    assert worker.exit_code == 0 and "--processes" in worker.output
    scheduler = runner.invoke(main, ["scheduler", "--help"])
    assert scheduler.exit_code == 0 and "scheduler" in scheduler.output
