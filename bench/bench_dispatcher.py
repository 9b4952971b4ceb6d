"""Paced dispatcher benchmark: a Revrag campaign against the vendor sandbox, timed at the sandbox.

    python bench/bench_dispatcher.py [--contacts 100] [--rate 120] [--keep]

Full size (issue 5), about 17 minutes of wall time:

    python bench/bench_dispatcher.py --contacts 2000 --rate 120

Runs everything as production does, each a real process: the vendor sandbox
(`python -m simulators`), the Celery workers (`--concurrency 2`, as `make run` sizes them: the
main one and the dial queue's, which runs the campaign at its pace slots) and Celery beat, each
its own process as in production, and PostgreSQL (database `bench_dispatch` on
127.0.0.1, dropped first; override with BENCH_DATABASE_URL). The broker and cache are Redis:
CELERY_BROKER_URL / REDIS_URL when set, else databases 6 and 7 of 127.0.0.1:6379, emptied
first, so use numbers nobody else is using.

The audience: --contacts contacts in a time zone inside the calling window, plus 5 % in a zone
outside every window, 5 % on the do-not-call list at launch, and 2 % of the callable ones put
on the list while the campaign runs (before their turn). The campaign is launched, runs at
--rate calls a minute, and is stopped when 90 % of the callable contacts have been dialled.
Then the sandbox's request log says when each call reached the vendor.

Revrag documents 60 requests a minute, which caps any real paced campaign below 120 calls a
minute: the benchmark raises the sandbox's Revrag limit and the account's budget to 6,000 a
minute (and the concurrency cap above the audience, as calls in the sandbox are not ended by
webhooks here), so what it measures is the dispatcher's pacing, not the vendor's limit.

Targets: cumulative error ≤ 1 call (calls at the sandbox by any moment vs the absolute
schedule from the launch: one call due at the launch the campaign records, one more every slot
interval), p99 lateness ≤ 0.5 × the slot interval (sandbox arrival vs the call's slot; 250 ms at
120 calls a minute), and zero calls outside the window, to a do-not-call number, or started
after the stop was acknowledged. It also prints the delay from the launch to the first call's
arrival at the sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.database import drop_database, open_worker_bench_database  # noqa: E402
from bench.summary import Goal, print_summary  # noqa: E402

TARGET_CUMULATIVE_ERROR = 1
TARGET_P99_LATENESS_SLOTS = 0.5  # of the slot interval: 250 ms at 120 calls a minute
DB_NAME = "bench_dispatch"
DEFAULT_BROKER = "redis://127.0.0.1:6379/6"
DEFAULT_CACHE = "redis://127.0.0.1:6379/7"
RAISED_LIMIT = 6000  # requests a minute, sandbox and account (Revrag documents 60)
STOP_AT_SHARE = 0.9


def zone_at_local_hour(hour: int, now) -> str:
    """An Etc/GMT zone whose local hour is `hour` right now (Etc/GMT-N is UTC+N)."""
    offset = (hour - now.astimezone(ZoneInfo("UTC")).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def start_sandbox() -> tuple[subprocess.Popen, dict, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--port", "0", "--speed", "50"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    vendors: dict[str, dict] = {}
    admin_url = ""
    while not admin_url:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("The sandbox exited before printing its URLs.")
        record = json.loads(line)
        if "admin_url" in record:
            admin_url = record["admin_url"]
        else:
            vendors[record["vendor"]] = record
    return process, vendors, admin_url


def start_worker(
    env: dict[str, str], folder: str, *, beat: bool = True, name: str = "bench-dispatcher"
) -> list[subprocess.Popen]:
    """The workers and beat as separate processes, as `make run` and production run them: the
    main worker, the dial queue's (pace slots' runs) and beat (without `beat`: no beat)."""
    common = {
        "cwd": REPO_ROOT,
        "env": env,
        "stdout": subprocess.DEVNULL,
        "start_new_session": True,
    }
    loglevel = os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING")
    processes = []
    for role, queues in (("worker", []), ("dial-worker", ["--queues", "dial"])):
        command = [
            sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--concurrency", "2",
            "--loglevel", loglevel, "--hostname", f"{name}-{role}-{os.getpid()}@%h", *queues,
        ]  # fmt: skip
        log = open(Path(folder) / f"{role}.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(subprocess.Popen(command, stderr=log, **common))
    if not beat:
        return processes
    beat_process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", loglevel,
            "--schedule", str(Path(folder) / "celerybeat-schedule"),
        ],
        stderr=open(Path(folder) / "beat.log", "w"),  # noqa: SIM115 - closed with the process
        **common,
    )  # fmt: skip
    return [*processes, beat_process]


def stop_process(process: subprocess.Popen, *, group: bool = False) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL) if group else process.kill()
        process.wait()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))]


def cumulative_error(times: list[float], launched: float, interval: float) -> tuple[int, float]:
    """The largest gap between calls at the vendor by a moment and calls due by it, and when.

    The schedule is absolute and starts at the launch: one call due at the launch, one more
    every `interval`, as many as reached the vendor in all (the campaign is stopped after them).
    """
    due_moments = [launched + k * interval for k in range(len(times))]
    worst, worst_at = 0, launched
    arrived = 0
    for moment in sorted({*times, *due_moments}):
        while arrived < len(times) and times[arrived] <= moment:
            arrived += 1
        due = min(len(times), int((moment - launched) / interval + 1e-9) + 1)
        if abs(arrived - due) > worst:
            worst, worst_at = abs(arrived - due), moment
    return worst, worst_at


def main() -> None:  # noqa: C901, PLR0915 - one scenario, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100, help="2000 for issue 5's size")
    parser.add_argument("--rate", type=int, default=120, help="calls a minute")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--dump", help="write every call's slot and arrival to this JSON file")
    args = parser.parse_args()

    opened = open_worker_bench_database(
        DB_NAME, default_broker=DEFAULT_BROKER, default_cache=DEFAULT_CACHE
    )
    if opened is None:
        return
    url, env = opened
    from django.core.management import call_command
    from django.utils import timezone

    from calls.models import Agent, Call
    from calls.services import agents_sync
    from campaigns.models import Campaign, CampaignKind, DialEntry
    from campaigns.services import audience_set, campaign_transition
    from contacts.models import Contact, DoNotCallEntry
    from vendors.models import VendorAccount, VendorKind

    call_command("migrate", verbosity=0)
    sandbox, vendors, admin_url = start_sandbox()
    folder = tempfile.mkdtemp(prefix="callops-bench-dispatcher-")
    workers: list[subprocess.Popen] = []
    finished = False
    try:
        requests.post(
            f"{admin_url}/rate_limits",
            json={"vendor": "revrag", "group": "default", "limit": RAISED_LIMIT,
                  "window_seconds": 60},
            timeout=10,
        ).raise_for_status()  # fmt: skip
        account = VendorAccount(
            kind=VendorKind.REVRAG,
            name="Bench Revrag",
            base_url=vendors["revrag"]["base_url"],
            rate_limits={"default": RAISED_LIMIT},
        )
        account.set_api_key(vendors["revrag"]["api_key"])
        account.save()
        agents_sync(account=account)

        now = timezone.now()
        inside, outside = zone_at_local_hour(12, now), zone_at_local_hour(22, now)
        callable_contacts = [
            Contact(name=f"Bench {n}", phone_e164=f"+1415{2000000 + n}", time_zone=inside)
            for n in range(args.contacts)
        ]
        extra = max(1, args.contacts // 20)
        outside_contacts = [
            Contact(name=f"Late {n}", phone_e164=f"+1415{3000000 + n}", time_zone=outside)
            for n in range(extra)
        ]
        dnc_contacts = [
            Contact(name=f"DNC {n}", phone_e164=f"+1415{4000000 + n}", time_zone=inside)
            for n in range(extra)
        ]
        Contact.objects.bulk_create(callable_contacts + outside_contacts + dnc_contacts)
        DoNotCallEntry.objects.bulk_create(
            DoNotCallEntry(phone_e164=c.phone_e164, reason="bench: before launch")
            for c in dnc_contacts
        )
        campaign = Campaign.objects.create(
            name="Bench pace",
            vendor_account=account,
            agent=Agent.objects.filter(vendor_account=account, is_active=True).first(),
            kind=CampaignKind.PACED,
            window_days=[0, 1, 2, 3, 4, 5, 6],
            window_start_hour=8,
            window_end_hour=18,
            default_time_zone=inside,
            calls_per_minute=args.rate,
            max_concurrent_calls=min(32767, args.contacts + 10),
            ends_at=now + timedelta(hours=3),
            retry_rules={},
        )
        # Interleaved so the outside and DNC ones come up among the others.
        audience = []
        for index, contact in enumerate(callable_contacts):
            audience.append(contact)
            if index % 20 == 10 and index // 20 < extra:
                audience += [outside_contacts[index // 20], dnc_contacts[index // 20]]
        audience_set(campaign=campaign, contacts=audience)
        # Put on the list while running: callable contacts well into the second half.
        late_dnc = callable_contacts[int(args.contacts * 0.6) :][: max(1, args.contacts // 50)]

        workers = start_worker(env, folder)
        time.sleep(10)  # the worker connects and its beat's first round of every job is over
        interval = 60 / args.rate
        planned = args.contacts - len(late_dnc)
        stop_after = int(planned * STOP_AT_SHARE)
        expected_seconds = stop_after * interval
        print(
            f"campaign: {args.contacts:,} callable contacts (+{extra} outside the window, "
            f"+{extra} on the do-not-call list, +{len(late_dnc)} added to it while running) at "
            f"{args.rate} calls/min; stop after {stop_after:,} calls (~{expected_seconds:.0f} s)"
        )
        print(
            f"Revrag limit raised to {RAISED_LIMIT:,}/min at the sandbox and on the account "
            f"(documented: 60/min); concurrency cap {campaign.max_concurrent_calls:,}"
        )
        pressed = time.time()
        campaign_transition(campaign_id=campaign.pk, action="launch")
        # The schedule starts at the launch the product records (its first slot is due then),
        # not at the first call's slot, so a slow start counts against it.
        answered = time.time()
        launched = Campaign.objects.get(pk=campaign.pk).launched_at.timestamp()
        dnc_added_at = None
        deadline = launched + expected_seconds * 1.5 + 30
        while time.time() < deadline:
            started = Call.objects.filter(campaign=campaign).exclude(vendor_call_id="").count()
            if dnc_added_at is None and started >= int(planned * 0.3):
                DoNotCallEntry.objects.bulk_create(
                    DoNotCallEntry(phone_e164=c.phone_e164, reason="bench: while running")
                    for c in late_dnc
                )
                dnc_added_at = time.time()
            if started >= stop_after:
                break
            time.sleep(0.05)
        campaign_transition(campaign_id=campaign.pk, action="stop")
        stop_acknowledged = time.time()
        time.sleep(5)  # anything that would still start after the stop, would by now

        log = requests.get(
            f"{admin_url}/log", params={"vendor": "revrag", "method": "POST"}, timeout=30
        ).json()["items"]
        posts = [e for e in log if e["path"].endswith("/trigger/single") and e["status"] == 200]
        posts.sort(key=lambda e: e["t"])
        calls = {
            str(c.idempotency_key): c
            for c in Call.objects.filter(campaign=campaign).select_related("contact")
        }
        entries = {
            e.last_call_id: e
            for e in DialEntry.objects.filter(campaign=campaign).exclude(last_call=None)
        }
        arrivals: list[tuple[float, float, str]] = []  # (sandbox time, slot, phone)
        for entry in posts:
            call = calls.get(entry["idempotency_key"] or "")
            if call is None:
                continue
            slot = entries[call.pk].last_attempt_at.timestamp()
            arrivals.append((entry["t"], slot, call.to_number))
        if not arrivals:
            raise SystemExit(f"no call reached the sandbox; see {folder}/worker.log")

        if args.dump:
            Path(args.dump).write_text(json.dumps(sorted(arrivals, key=lambda a: a[1])))
        lateness = [(t - slot) * 1000 for t, slot, _phone in arrivals]
        first_slot = min(slot for _t, slot, _phone in arrivals)
        times = sorted(t for t, _s, _p in arrivals)
        worst, worst_at = cumulative_error(times, launched, interval)
        phones_outside = {c.phone_e164 for c in outside_contacts}
        phones_dnc = {c.phone_e164 for c in dnc_contacts}
        late_phones = {c.phone_e164 for c in late_dnc}
        outside_calls = [p for _t, _s, p in arrivals if p in phones_outside]
        dnc_calls = [
            p for t, _s, p in arrivals
            if p in phones_dnc or (p in late_phones and dnc_added_at and t > dnc_added_at)
        ]  # fmt: skip
        after_stop = [t for t, _s, _p in arrivals if t > stop_acknowledged]
        span = times[-1] - times[0]
        achieved = (len(times) - 1) / span * 60 if span > 0 else 0.0
        p50, p99 = statistics.median(lateness), percentile(lateness, 0.99)

        print(f"calls that reached the sandbox: {len(arrivals):,} in {span:.1f} s "
              f"({achieved:.1f} calls/min achieved, target {args.rate})")  # fmt: skip
        first_delay = times[0] - launched
        print(f"  first call at the sandbox {first_delay * 1000:.0f} ms after the launch "
              f"({first_delay / interval:.2f} slot intervals; its slot "
              f"{(first_slot - launched) * 1000:.0f} ms after the launch; the launch request "
              f"took {(answered - pressed) * 1000:.0f} ms)")  # fmt: skip
        print(f"  cumulative error (from the launch, one call due at it and one every "
              f"{interval:.2f} s after) largest at +{worst_at - launched:.1f} s")  # fmt: skip
        target_p99_ms = TARGET_P99_LATENESS_SLOTS * interval * 1000
        checks = [
            ("cumulative error", f"{worst} call(s)", f"≤ {TARGET_CUMULATIVE_ERROR}",
             worst <= TARGET_CUMULATIVE_ERROR),
            ("lateness (sandbox arrival - slot)",
             f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lateness):.0f} ms",
             f"p99 ≤ {target_p99_ms:.0f} ms", p99 <= target_p99_ms),
            ("calls outside the window", str(len(outside_calls)), "0", not outside_calls),
            ("calls to do-not-call numbers", str(len(dnc_calls)), "0", not dnc_calls),
            ("calls started after the stop", str(len(after_stop)), "0", not after_stop),
        ]  # fmt: skip
        for label, figure, target, ok in checks:
            print(f"  {label:36s} {figure:38s} target {target:14s} {'OK' if ok else 'MISSED'}")
        print(f"all dispatcher targets: {'met' if all(c[3] for c in checks) else 'NOT met'}")
        print_summary(
            "dispatcher",
            [
                Goal("cumulative error", worst, TARGET_CUMULATIVE_ERROR, unit="calls"),
                Goal("p99 lateness / slot interval", p99 / 1000 / interval,
                     TARGET_P99_LATENESS_SLOTS),
                Goal("calls outside the window, to do-not-call, after the stop",
                     len(outside_calls) + len(dnc_calls) + len(after_stop), 0, unit="calls"),
            ],
        )  # fmt: skip
        finished = True
    finally:
        for process in workers:
            stop_process(process, group=True)
        stop_process(sandbox)
        if finished and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)  # the worker's logs, kept after a failure
        from django.db import connection

        connection.close()
        if not args.keep:
            with contextlib.suppress(subprocess.CalledProcessError):
                drop_database(url)


if __name__ == "__main__":
    main()
