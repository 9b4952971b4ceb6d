"""Contact CSV import benchmark: the full import beside its floor and the usual ways to insert.

    python bench/bench_contact_import.py [--rows 100000] [--repeat 1] [--seed 7] [--keep]

Full size (issue 5), about 3 minutes on this 2-core machine:

    python bench/bench_contact_import.py --rows 1000000

Creates (drops first) the PostgreSQL database `bench_import` on 127.0.0.1 as postgres
(override with BENCH_DATABASE_URL), migrates it, generates a CSV like real exports (mixed
phone formats, ~1 % repeated numbers, ~0.5 % bad numbers, name, email, company) and measures
in one run, on the same rows:

1. phone validation alone: `phonenumbers.parse` + `is_valid_number` + E.164 formatting of every
   number in one process, nothing else: the floor (also shown on two processes, for scale);
2. Django `bulk_create` of the validated rows (one per number) into the empty contacts table;
3. raw `COPY` of the same rows into the empty contacts table;
4. the full import as the task runs it: upload checks, column mapping, reading, checking every
   row (phone with time zone, email), dedupe, rejections with line numbers, and the write
   (contacts/csv_import.py, contacts/services.py), into the empty contacts table.

For the full import it also prints the CPU time of its worker processes, of the importing
process and of its PostgreSQL backend (when PostgreSQL runs on this machine): where the time
goes on two cores. The backend's writes are serial (one connection, one transaction).

Targets: full import ≥ 0.8 × the throughput of validation alone, ≥ 2 × that of bulk_create,
1,000,000 rows in < 30 s. The 1M-row file is ~57 MB, above the 50 MB upload limit: the
benchmark raises CALLOPS_CONTACT_IMPORT_MAX_BYTES for its run. --keep leaves the database.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

from bench.database import drop_database, open_bench_database  # noqa: E402 (the path first)
from bench.summary import Goal, print_summary  # noqa: E402

TARGET_RATIO_VALIDATION = 0.8
TARGET_RATIO_BULK_CREATE = 2.0
TARGET_SECONDS_1M = 30.0
DB_NAME = "bench_import"

# Area codes that libphonenumber knows, with their zones spread over the US.
AREA_CODES = ["212", "213", "305", "312", "404", "415", "503", "617", "702", "713", "808", "907"]
FORMATS = ["({a}) {e}-{s}", "{a}-{e}-{s}", "+1 {a} {e} {s}", "1{a}{e}{s}", "{a}.{e}.{s}"]


def generate_csv(rows: int, seed: int) -> tuple[bytes, list[tuple[str, str, str, str]]]:
    """A CSV like real exports: mixed formats, ~1% repeated numbers, ~0.5% bad numbers."""
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("Full name,Phone,Email,Company\n")
    records: list[tuple[str, str, str, str]] = []
    seen: list[str] = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.005:
            phone = rng.choice(["123", "+1 555 0100", "n/a", ""])
        elif roll < 0.015 and seen:
            phone = rng.choice(seen)
        else:
            phone = rng.choice(FORMATS).format(
                a=rng.choice(AREA_CODES), e=rng.randint(201, 989), s=f"{rng.randint(0, 9999):04d}"
            )
            if len(seen) < 5000:
                seen.append(phone)
        email = f"person{i}@example.com" if rng.random() < 0.7 else ""
        out.write(f'"Person {i}",{phone},{email},"Company {i % 500}"\n')
        records.append((f"Person {i}", phone, email, f"Company {i % 500}"))
    return out.getvalue().encode(), records


def validate(phones: list[str]) -> list[str | None]:
    """The floor: parse, is it valid, E.164. None for a number that is not."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    out: list[str | None] = []
    for raw in phones:
        try:
            number = phonenumbers.parse(raw, "US")
        except NumberParseException:
            out.append(None)
            continue
        valid = phonenumbers.is_valid_number(number)
        out.append(phonenumbers.format_number(number, PhoneNumberFormat.E164) if valid else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="1000000 for issue 5's size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()

    url = open_bench_database(DB_NAME)
    if url is None:
        return
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from contacts import services, tasks
    from contacts.models import Contact, ContactImport, ImportStatus

    # The import runs here, in-process, as the task would run it: nothing is sent to the broker.
    tasks.run_contact_import.delay_on_commit = lambda *args, **kwargs: None
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    data, records = generate_csv(args.rows, args.seed)
    phones = [record[1] for record in records]
    print(f"database: {connection.settings_dict['NAME']} (PostgreSQL)")
    print(
        f"rows: {args.rows:,} ({len(data) / 1024 / 1024:.1f} MB CSV, generated in "
        f"{time.perf_counter() - started:.1f} s); import workers: {services.import_workers()}"
    )
    if len(data) > settings.CALLOPS_CONTACT_IMPORT_MAX_BYTES:
        print(
            f"upload limit raised for this run: {settings.CALLOPS_CONTACT_IMPORT_MAX_BYTES:,} → "
            f"{len(data):,} bytes (CALLOPS_CONTACT_IMPORT_MAX_BYTES)"
        )
        settings.CALLOPS_CONTACT_IMPORT_MAX_BYTES = len(data)

    def empty_contacts() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE contacts_contact CASCADE")
            cursor.execute("VACUUM ANALYZE contacts_contact")

    # 1. The floor, on one process, and on two for scale.
    def validation_alone() -> tuple[float, list[str | None]]:
        started = time.perf_counter()
        result = validate(phones)
        return time.perf_counter() - started, result

    def validation_two_processes() -> float:
        half = len(phones) // 2
        with ProcessPoolExecutor(2) as pool:
            pool.submit(int).result()  # started before the clock
            started = time.perf_counter()
            list(pool.map(validate, [phones[:half], phones[half:]]))
            return time.perf_counter() - started

    # The validated rows, one per number, as bulk_create and COPY get them.
    def validated_rows(e164: list[str | None]) -> list[tuple[str, str, str, str]]:
        rows: dict[str, tuple[str, str, str, str]] = {}
        for (name, _raw, email, company), number in zip(records, e164, strict=True):
            if number is not None and number not in rows:
                rows[number] = (number, name, email, company)
        return list(rows.values())

    def bulk_create(rows: list[tuple[str, str, str, str]]) -> float:
        empty_contacts()
        started = time.perf_counter()
        Contact.objects.bulk_create(
            (
                Contact(phone_e164=p, name=n, email=e, metadata={"Company": c})
                for p, n, e, c in rows
            ),
            batch_size=5000,
        )
        return time.perf_counter() - started

    def backend_cpu() -> float | None:
        """CPU seconds of this connection's PostgreSQL backend, where it runs on this machine."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def raw_copy(rows: list[tuple[str, str, str, str]]) -> float:
        import json

        import psycopg

        empty_contacts()
        connection.ensure_connection()
        backend_before = backend_cpu()
        started = time.perf_counter()
        with (
            psycopg.Cursor(connection.connection) as cursor,
            cursor.copy(
                "COPY contacts_contact (phone_e164, name, email, linkedin_url, time_zone, "
                "metadata, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for p, n, e, c in rows:
                copy.write_row((p, n, e, "", "", json.dumps({"Company": c}), "now", "now"))
        seconds = time.perf_counter() - started
        if backend_before is not None:
            print(f"    raw COPY CPU: PostgreSQL backend {backend_cpu() - backend_before:.2f} s")
        return seconds

    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def full_import() -> float:
        empty_contacts()
        cpu_before = (
            cpu(resource.RUSAGE_SELF),
            cpu(resource.RUSAGE_CHILDREN),
            backend_cpu(),
        )
        started = time.perf_counter()
        created = services.contact_import_create(file=io.BytesIO(data), file_name="bench.csv")
        services.contact_import_start(
            contact_import=created, mapping=created.mapping, duplicates="fill"
        )
        services.contact_import_run(import_id=created.pk)
        seconds = time.perf_counter() - started
        backend_before = cpu_before[2]
        backend_after = backend_cpu() if backend_before is not None else None
        # Where the import's time goes: the three kinds of process share the two cores.
        print(
            f"    import CPU: workers {cpu(resource.RUSAGE_CHILDREN) - cpu_before[1]:.2f} s, "
            f"importing process {cpu(resource.RUSAGE_SELF) - cpu_before[0]:.2f} s, "
            "PostgreSQL backend "
            + (
                f"{backend_after - backend_before:.2f} s"
                if backend_before is not None and backend_after is not None
                else "n/a (not on this machine)"
            )
            + f"; wall {seconds:.2f} s"
        )
        result = ContactImport.objects.defer("data").get(pk=created.pk)
        if result.status != ImportStatus.DONE:
            raise SystemExit(f"import failed: {result.error_message}")
        print(
            f"    import: created {result.created_count:,}, repeated {result.repeated_count:,}, "
            f"rejected {result.rejected_count:,}; contacts stored {Contact.objects.count():,}"
        )
        result.delete()
        return seconds

    runs: dict[str, list[float]] = {"validation": [], "validation2": [], "bulk": [], "copy": []}
    runs["import"] = []
    rows: list[tuple[str, str, str, str]] = []
    for _ in range(args.repeat):
        seconds, e164 = validation_alone()
        runs["validation"].append(seconds)
        runs["validation2"].append(validation_two_processes())
        rows = validated_rows(e164)
        runs["bulk"].append(bulk_create(rows))
        runs["copy"].append(raw_copy(rows))
        runs["import"].append(full_import())
        print("    run: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()))

    seconds = {name: statistics.median(values) for name, values in runs.items()}
    rate = {name: args.rows / value for name, value in seconds.items()}
    labels = {
        "validation": "phone validation alone (1 process)",
        "validation2": "phone validation alone (2 processes)",
        "bulk": f"Django bulk_create ({len(rows):,} rows)",
        "copy": f"raw COPY ({len(rows):,} rows)",
        "import": "full import",
    }
    print(f"median of {args.repeat} run(s); throughput in CSV rows per second")
    for name, label in labels.items():
        print(f"  {label:40s} {seconds[name]:7.2f} s  {rate[name]:10,.0f} rows/s")
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak memory: this process {usage:,.0f} MB, largest worker {children:,.0f} MB")

    checks = [
        (
            "full import / validation alone",
            rate["import"] / rate["validation"],
            f"≥ {TARGET_RATIO_VALIDATION}",
            rate["import"] / rate["validation"] >= TARGET_RATIO_VALIDATION,
        ),
        (
            "full import / bulk_create",
            rate["import"] / rate["bulk"],
            f"≥ {TARGET_RATIO_BULK_CREATE}",
            rate["import"] / rate["bulk"] >= TARGET_RATIO_BULK_CREATE,
        ),
    ]
    for label, value, target, ok in checks:
        print(f"{label}: {value:.2f} (target {target}) {'OK' if ok else 'MISSED'}")
    per_million = 1_000_000 / rate["import"]
    measured = "measured" if args.rows >= 1_000_000 else f"projected from {args.rows:,} rows"
    print(
        f"1,000,000 rows: {per_million:.1f} s, {measured} (target < {TARGET_SECONDS_1M:.0f} s) "
        f"{'OK' if per_million < TARGET_SECONDS_1M else 'MISSED'}"
    )
    versus_two = rate["import"] / rate["validation2"]
    copy_factor = rate["copy"] / rate["import"]
    print(
        f"(full import vs validation on 2 processes: {versus_two:.2f}; "
        f"raw COPY is {copy_factor:.1f}x the full import)"
    )
    print_summary(
        "contact import",
        [
            Goal("full import / validation on 2 processes", versus_two, 0.8, at_most=False),
            Goal("full import / raw COPY", 1 / copy_factor, 0.5, at_most=False),
            Goal("full import / validation on 1 process", rate["import"] / rate["validation"],
                 TARGET_RATIO_VALIDATION, at_most=False),
        ],
    )  # fmt: skip

    connection.close()
    if not args.keep:
        with contextlib.suppress(subprocess.CalledProcessError):
            drop_database(url)


if __name__ == "__main__":
    main()
