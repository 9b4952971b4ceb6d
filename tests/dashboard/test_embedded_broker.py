"""The embedded broker (`make run` without CELERY_BROKER_URL): a SQLite file, polled often."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from celery import Celery
from django.conf import settings
from kombu import Connection

from tests.sandbox import REPO_ROOT
from tests.utils import child_process_env

TRANSPORT = "dashboard.broker:Transport"


def broker(path) -> Connection:
    return Connection(f"sqlite:///{path}", transport=TRANSPORT)


def messages(path, *, visible: bool) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT count(*) FROM kombu_message WHERE visible = ?", [visible]
        ).fetchone()[0]


def test_it_is_the_broker_when_no_broker_url_is_set():
    # Settings pick it for a SQLite URL, the default (CI sets Redis, so the default is not
    # what this process runs with).
    if settings.CELERY_BROKER_URL.startswith("sqlite:"):
        assert settings.CELERY_BROKER_TRANSPORT == TRANSPORT
    output = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; "
         "print(settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT)"],
        env={**child_process_env(), "CELERY_BROKER_URL": ""},
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert output.startswith("sqlite:///") and output.split()[-1] == TRANSPORT


def test_it_deletes_the_messages_it_handed_out(tmp_path):
    path = tmp_path / "broker.sqlite3"
    with broker(path) as connection:
        queue = connection.SimpleQueue("work")
        for number in range(30):
            queue.put({"n": number})
        for number in range(30):
            message = queue.get(timeout=5)
            assert message.payload == {"n": number}
            message.ack()
        assert messages(path, visible=False) == 30  # kombu keeps them, invisible
        queue.put({"n": 30})
        queue.channel._forgotten_at = float("-inf")  # a minute has passed
        message = queue.get(timeout=5)
        assert message.payload == {"n": 30}
        message.ack()
        queue.close()
    # The clean-up ran before the last message was taken: only that one is left.
    assert messages(path, visible=False) == 1
    assert messages(path, visible=True) == 0


@pytest.mark.django_db(transaction=True)
def test_it_hands_a_busy_worker_its_next_task_without_waiting_a_second(tmp_path):
    # A one-process worker may hold one unacknowledged task; kombu then waits its polling
    # interval before taking the next. At kombu's one second, 20 tasks took ~20 s.
    env = child_process_env(
        CALLOPS_VAR_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        CALLOPS_ENCRYPTION_KEYS=",".join(settings.CALLOPS_ENCRYPTION_KEYS),
        CELERY_BROKER_URL="",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    path = tmp_path / "celery-broker.sqlite3"
    producer = Celery(set_as_current=False)
    with broker(path) as connection:
        for _ in range(20):
            producer.send_task("dashboard.tasks.record_heartbeat", connection=connection)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip"],
        cwd=REPO_ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # the worker's own start-up is not what is measured
        while messages(path, visible=False) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        while messages(path, visible=True) and time.monotonic() < started + 30:
            time.sleep(0.05)
        taken_in = time.monotonic() - started
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    assert messages(path, visible=True) == 0
    # Each task takes milliseconds; one poll a second would need about 19 s here.
    assert taken_in < 8, f"19 tasks taken in {taken_in:.1f} s"
