"""The background workers' names, shared by the settings, the Celery app, the overview and the
alert rules. Plain constants with no Django imports: dashboard/celery.py reads them while the
settings module is still being imported (a settings module that star-imports ours, as the
benchmarks' do, is half-built at that moment)."""

# Beat's heartbeat rows (dashboard.models.Heartbeat.name), one per kind of worker.
MAIN_WORKER_HEARTBEAT = "worker"
DIAL_WORKER_HEARTBEAT = "dial"
WORKER_HEARTBEATS = (MAIN_WORKER_HEARTBEAT, DIAL_WORKER_HEARTBEAT)

# The queue paced campaigns' slot runs go to (`celery worker -Q dial`).
DIAL_QUEUE = "dial"
