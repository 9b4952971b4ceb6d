"""The benchmarks' own PostgreSQL database: created fresh for a run, dropped at its end.

Every benchmark that needs a filled database starts the same way: pick the URL
(BENCH_DATABASE_URL, else the benchmark's own database on 127.0.0.1), drop and create it
unless the run reuses a filled one, point Django at it and set Django up. `make bench` runs
every script in turn, so a machine without PostgreSQL's client tools skips a benchmark with
the reason instead of failing the rest.
"""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlparse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")


def default_url(db_name: str) -> str:
    return os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{db_name}")


def _client_args(url: str) -> tuple[list[str], str]:
    parts = urlparse(url)
    common = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    return [*common, "-U", parts.username or "postgres"], parts.path.lstrip("/")


def drop_database(url: str) -> None:
    # --force: a benchmark stopped half-way may leave a connection behind (its Celery worker).
    common, name = _client_args(url)
    subprocess.run(["dropdb", *common, "--if-exists", "--force", name], check=True)


def recreate_database(url: str) -> None:
    drop_database(url)
    common, name = _client_args(url)
    subprocess.run(["createdb", *common, name], check=True)


def open_bench_database(db_name: str, *, reuse: bool = False) -> str | None:
    """Create (unless `reuse`) the benchmark's database and set Django up on it.

    Returns its URL, or None after printing why the benchmark is skipped.
    """
    url = default_url(db_name)
    if not reuse:
        try:
            recreate_database(url)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"SKIPPED: this benchmark needs PostgreSQL client tools and {url} ({exc})")
            return None
    os.environ["DATABASE_URL"] = url

    import django

    django.setup()
    return url


def open_worker_bench_database(
    db_name: str, *, default_broker: str, default_cache: str
) -> tuple[str, dict[str, str]] | None:
    """As open_bench_database, for a benchmark that runs Celery workers on Redis: the Redis
    databases are emptied too. Returns the URL and the environment to start workers with, or
    None after printing why the benchmark is skipped."""
    url = default_url(db_name)
    broker = os.environ.get("CELERY_BROKER_URL", default_broker)
    cache_url = os.environ.get("REDIS_URL", default_cache)
    try:
        recreate_database(url)
        import redis

        for redis_url in {broker, cache_url}:
            redis.Redis.from_url(redis_url).flushdb()
    except Exception as exc:
        print(f"SKIPPED: this benchmark needs PostgreSQL at {url} and Redis ({exc})")
        return None
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": cache_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    os.environ.update(env)

    import django

    django.setup()
    return url, env
