"""Contact CSV import benchmark: phone validation alone vs the full import.

    python bench/bench_contact_import.py [--rows 100000] [--repeat 3] [--seed 7] [--keep]

Target: the full import runs at ≥ 0.8 × the throughput of phone validation alone (the
unavoidable cost), and 100,000 rows import in < 60 s.

Database: with DATABASE_URL set (PostgreSQL) the import runs there — point it at a throwaway
database, e.g. `createdb -h 127.0.0.1 -U postgres callops_bench` and
DATABASE_URL=postgres://postgres@127.0.0.1:5432/callops_bench. Without it, the configured
SQLite engine and options are used on a fresh file in a temporary folder, so the dev database
is not filled. Migrations are applied first; the contacts the run created are removed at the
end unless --keep (with --keep, use --repeat 1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"

import django  # noqa: E402

TARGET_RATIO = 0.8
TARGET_SECONDS_100K = 60.0

# Area codes that libphonenumber knows, with their zones spread over the US.
AREA_CODES = ["212", "213", "305", "312", "404", "415", "503", "617", "702", "713", "808", "907"]
FORMATS = ["({a}) {e}-{s}", "{a}-{e}-{s}", "+1 {a} {e} {s}", "1{a}{e}{s}", "{a}.{e}.{s}"]


def generate_csv(rows: int, seed: int) -> tuple[bytes, list[str]]:
    """A CSV like real exports: mixed formats, ~1% repeated numbers, ~0.5% bad numbers."""
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("Full name,Phone,Email,Company\n")
    phones: list[str] = []
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
        phones.append(phone)
    return out.getvalue().encode(), phones


def use_a_scratch_sqlite_file_unless_postgres() -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        scratch = Path(tempfile.mkdtemp(prefix="callops-bench-")) / "bench.sqlite3"
        database["NAME"] = scratch
        return f"SQLite (scratch file {scratch}, WAL)"
    return f"{database['ENGINE'].rsplit('.', 1)[-1]} database {database['NAME']!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the imported contacts")
    args = parser.parse_args()

    django.setup()
    where = use_a_scratch_sqlite_file_unless_postgres()

    from django.core.management import call_command

    from contacts import services, tasks
    from contacts.models import Contact, ContactImport, ImportStatus
    from contacts.phones import PhoneError, PhoneNormalizer, settings_region

    # The import runs here, in-process, as the task would run it: nothing is sent to the broker
    # (a worker would look for this import in another database).
    tasks.run_contact_import.delay_on_commit = lambda *args, **kwargs: None
    call_command("migrate", verbosity=0)
    print(f"database: {where}")
    data, phones = generate_csv(args.rows, args.seed)
    print(f"rows: {args.rows:,} ({len(data) / 1024 / 1024:.1f} MB)")

    # 1. Phone validation alone: the same cached parser the import uses, nothing else.
    def validation_alone() -> float:
        normalizer = PhoneNormalizer(default_region=settings_region())
        started = time.perf_counter()
        for raw in phones:
            with contextlib.suppress(PhoneError):
                normalizer(raw)
        return time.perf_counter() - started

    # 2. The full import: upload checks, mapping, validation, one transaction of bulk writes.
    def full_import() -> tuple[float, float, ContactImport, int]:
        before = Contact.objects.count()
        last_id_before = Contact.objects.order_by("-id").values_list("id", flat=True).first() or 0
        cpu_started = time.process_time()
        started = time.perf_counter()
        created = services.contact_import_create(file=io.BytesIO(data), file_name="bench.csv")
        services.contact_import_start(
            contact_import=created, mapping=created.mapping, duplicates="merge"
        )
        services.contact_import_run(import_id=created.pk)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        result = ContactImport.objects.defer("data").get(pk=created.pk)
        if result.status != ImportStatus.DONE:
            raise SystemExit(f"import failed: {result.error_message}")
        after = Contact.objects.count()
        print(
            f"  import: {seconds:.2f} s (CPU here {cpu:.2f} s); created {result.created_count:,}, "
            f"updated {result.updated_count:,}, skipped {result.skipped_count:,}, "
            f"rejected {result.rejected_count:,}; contacts {before:,} → {after:,}"
        )
        if not args.keep:
            # Only what this run created: contacts that existed before keep their values.
            Contact.objects.filter(
                id__gt=last_id_before, created_at__gte=result.started_at
            ).delete()
            result.delete()
        return seconds, cpu, result, after

    # Alternated and reduced to medians: on a shared machine the load drifts between runs.
    validation_runs: list[float] = []
    import_runs: list[float] = []
    for _ in range(args.repeat):
        validation_runs.append(validation_alone())
        print(f"  validation alone: {validation_runs[-1]:.2f} s")
        import_runs.append(full_import()[0])
    validation_seconds = statistics.median(validation_runs)
    import_seconds = statistics.median(import_runs)
    validation_rate = args.rows / validation_seconds
    import_rate = args.rows / import_seconds
    ratio = import_rate / validation_rate
    projected_100k = 100_000 / import_rate

    print(
        f"phone validation alone: {validation_seconds:6.2f} s  {validation_rate:10,.0f} rows/s"
        f"  (median of {args.repeat})"
    )
    print(
        f"full import:            {import_seconds:6.2f} s  {import_rate:10,.0f} rows/s"
        f"  (median of {args.repeat})"
    )
    ratio_ok = ratio >= TARGET_RATIO
    time_ok = projected_100k < TARGET_SECONDS_100K
    print(
        f"ratio full/validation: {ratio:.2f} (target ≥ {TARGET_RATIO}) "
        f"{'OK' if ratio_ok else 'MISSED'}"
    )
    print(
        f"100k rows: {projected_100k:.1f} s (target < {TARGET_SECONDS_100K:.0f} s) "
        f"{'OK' if time_ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
