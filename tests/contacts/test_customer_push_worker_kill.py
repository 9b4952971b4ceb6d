"""SIGKILL a real Celery worker while the vendor holds its answer to a customer-import batch.

The vendor has imported the batch; the worker dies before recording it. After the lease runs
out the sweeper hands the push to a new worker, which sends that batch again with the same
idempotency key (the vendor answers from its record, importing nothing twice), then the rest.
"""

from __future__ import annotations

import time

import pytest

from contacts import tasks
from contacts.customer_push import customer_push_create
from contacts.models import Contact, CustomerPush, PushStatus
from tests.calls.test_worker_kill import HELD_SECONDS, Workers, wait_until
from tests.factories import ContactFactory

LEASE_SECONDS = 2

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workers(tmp_path):
    pool = Workers(tmp_path)
    pool.env["CALLOPS_CUSTOMER_PUSH_LEASE_SECONDS"] = str(LEASE_SECONDS)
    yield pool
    pool.stop_all()
    # The killed worker's request may still be held at the sandbox: let it land first.
    time.sleep(HELD_SECONDS + 0.5)


def test_it_resumes_a_killed_push_without_importing_a_batch_twice(
    make_account, sandbox, workers, monkeypatch
):
    account = make_account("voice_platform")
    for _ in range(3):
        ContactFactory()
    # The real workers send it, not this process's in-process (eager) Celery.
    monkeypatch.setattr(tasks.push_customers, "delay_on_commit", lambda *args: None)
    push = customer_push_create(
        account=account, contacts=Contact.objects.all(), selection="x", batch_size=1
    )
    sandbox.faults("voice_platform", latency_after_create_ms=HELD_SECONDS * 1000)

    first = workers.start()
    workers.send("contacts.tasks.push_customers", push.pk)
    wait_until(
        lambda: sandbox.state("voice_platform")["contacts"] == 1,
        timeout=40,
        what="the vendor to import the first batch",
    )
    time.sleep(0.5)
    workers.kill(first)
    push.refresh_from_db()
    assert (push.batches_done, push.status) == (0, PushStatus.RUNNING)

    sandbox.faults("voice_platform", latency_after_create_ms=0)
    workers.start()
    time.sleep(LEASE_SECONDS + 0.5)
    workers.send("contacts.tasks.resume_customer_pushes")
    wait_until(
        lambda: CustomerPush.objects.get(pk=push.pk).status == PushStatus.DONE,
        timeout=60,
        what="the new worker to finish the push",
    )

    push.refresh_from_db()
    assert (push.batches_done, push.accepted_count, push.lost_runs) == (3, 3, 1)
    assert sandbox.state("voice_platform")["contacts"] == 3
    imports = [
        entry["idempotency_key"]
        for entry in sandbox.log("voice_platform", method="POST")
        if entry["path"].endswith("/customers/import")
    ]
    assert imports == [push.batch_key(0), push.batch_key(0), push.batch_key(1), push.batch_key(2)]
    # The resent batch was answered from the vendor's record: "created", not a second "updated".
    assert set(push.rows.values_list("vendor_status", flat=True)) == {"created"}
