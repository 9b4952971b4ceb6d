from __future__ import annotations

import io
import time

import pytest
from django.db import OperationalError, connection, connections
from django.db.models import F
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contacts import csv_import, import_postgres, selectors, services
from contacts.csv_import import (
    CsvFileError,
    copy_line,
    guess_mapping,
    iter_chunks,
    iter_rows,
    parse_copy_line,
    rows_of_chunk,
)
from contacts.models import Contact, ContactImport, ImportStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def run_import(
    data: bytes,
    *,
    duplicates: str = "overwrite",
    mapping: list[str] | None = None,
) -> ContactImport:
    """Upload, start and run an import the way the task does (tasks do not run in tests)."""
    created = services.contact_import_create(file=io.BytesIO(data), file_name="c.csv")
    services.contact_import_start(
        contact_import=created, mapping=mapping or created.mapping, duplicates=duplicates
    )
    services.contact_import_run(import_id=created.pk)
    return ContactImport.objects.get(pk=created.pk)


def snapshot() -> list[tuple]:
    return list(
        Contact.objects.order_by("phone_e164").values_list(
            "phone_e164", "name", "email", "time_zone", "metadata", "updated_at"
        )
    )


def test_it_guesses_the_usual_columns():
    headers = ["Full Name", "Mobile Phone", "E-mail", "LinkedIn", "Time zone", "Company"]
    assert guess_mapping(headers) == ["name", "phone", "email", "linkedin_url", "time_zone", ""]
    assert guess_mapping(["First name", "Last name", "Phone"]) == [
        "first_name",
        "last_name",
        "phone",
    ]


def test_it_imports_rows_and_derives_time_zones():
    done = run_import(
        csv_bytes(
            "name,phone,email,company",
            "Ada,(415) 555-2671,ada@example.com,ACME",
            'Bob,"+44 20 7946 0958",,',
        ),
        mapping=["name", "phone", "email", "metadata"],
    )
    assert done.status == ImportStatus.DONE
    assert (done.created_count, done.updated_count, done.rejected_count) == (2, 0, 0)
    ada = Contact.objects.get(phone_e164="+14155552671")
    assert (ada.name, ada.email, ada.time_zone) == ("Ada", "ada@example.com", "America/Los_Angeles")
    assert ada.metadata == {"company": "ACME"}
    assert Contact.objects.get(phone_e164="+442079460958").time_zone == "Europe/London"


def test_it_combines_first_and_last_name_columns():
    run_import(csv_bytes("First name,Last name,Phone", "Grace,Hopper,415 555 2671"))
    assert Contact.objects.get().name == "Grace Hopper"


def test_it_rejects_bad_rows_with_their_line_numbers():
    done = run_import(
        csv_bytes(
            "name,phone,email",
            "Ada,(415) 555-2671,ada@example.com",
            "Short,123,",
            "",
            'Multi,"+1 555 0100",',
            "Mail,415 555 2672,not-an-email",
            "Nobody,,",
        )
    )
    assert (done.created_count, done.rejected_count, done.total_rows) == (1, 4, 5)
    rejected = list(done.rejections.values_list("line_number", "reason", "raw"))
    assert rejected == [
        (3, "phone: too short", ["Short", "123", ""]),
        (5, "phone: not a valid number for region US", ["Multi", "+1 555 0100", ""]),
        (6, "email: not a valid address “not-an-email”", ["Mail", "415 555 2672", "not-an-email"]),
        (7, "phone: missing phone number", ["Nobody", "", ""]),
    ]


def test_it_counts_the_line_where_a_multiline_row_starts():
    done = run_import(csv_bytes("name,phone", '"Two\nlines",123', "Ok,415 555 2671", "Bad,1"))
    assert list(done.rejections.values_list("line_number", flat=True)) == [2, 5]


def test_it_merges_duplicates_into_stored_contacts():
    ContactFactory(
        phone_e164="+14155552671", name="Ada", email="ada@old.example", time_zone="Europe/Paris"
    )
    done = run_import(
        csv_bytes(
            "name,phone,email",
            ",(415) 555-2671,ada@new.example",
            "Ada Lovelace,+14155552671,",
            "Bob,415 555 2672,",
            "Robert,415-555-2672,bob@example.com",
        ),
        duplicates="overwrite",
    )
    counts = (done.created_count, done.updated_count, done.unchanged_count, done.repeated_count)
    assert counts == (1, 1, 0, 2)
    ada = Contact.objects.get(phone_e164="+14155552671")
    # What the file gives wins; an empty cell keeps what was stored (name, time zone).
    assert (ada.name, ada.email, ada.time_zone) == (
        "Ada Lovelace",
        "ada@new.example",
        "Europe/Paris",
    )
    bob = Contact.objects.get(phone_e164="+14155552672")
    assert (bob.name, bob.email) == ("Robert", "bob@example.com")


def test_it_skips_duplicates_when_asked():
    ContactFactory(phone_e164="+14155552671", name="Ada", email="ada@old.example")
    done = run_import(
        csv_bytes(
            "name,phone,email",
            "Changed,(415) 555-2671,ada@new.example",
            "Bob,415 555 2672,",
            "Robert,415-555-2672,bob@example.com",
        ),
        duplicates="skip",
    )
    counts = (done.created_count, done.updated_count, done.unchanged_count, done.repeated_count)
    assert counts == (1, 0, 1, 1)
    assert Contact.objects.get(phone_e164="+14155552671").email == "ada@old.example"
    assert Contact.objects.get(phone_e164="+14155552672").name == "Bob"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\n\n", "The file is empty."),
        (b"name,phone\n", "The file has a header row but no data rows."),
        ("name,phone\nJosé,4155552671\n".encode("latin-1"), "not UTF-8 text (byte 0xE9 on line 2)"),
        ("name,phone\nAda,4155552671\n".encode("utf-16"), "The file is UTF-16 text."),
        (b"PK\x03\x04\x00\x00binary", "holds binary data"),
    ],
)
def test_it_refuses_bad_files_with_a_clear_message_and_stores_nothing(data, message):
    ContactFactory(phone_e164="+14155552671", name="Ada")
    before = snapshot()
    with pytest.raises(CsvFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        services.contact_import_create(file=io.BytesIO(data), file_name="bad.csv")
    assert ContactImport.objects.count() == 0
    assert snapshot() == before


def test_it_refuses_a_file_over_the_size_limit(settings):
    settings.CALLOPS_CONTACT_IMPORT_MAX_BYTES = 1024
    data = csv_bytes("name,phone", *[f"n{i},415555{i:04d}" for i in range(100)])
    with pytest.raises(CsvFileError, match="the limit is 0 MB"):
        services.contact_import_create(file=io.BytesIO(data), file_name="big.csv", size=len(data))
    with pytest.raises(CsvFileError, match="limit"):
        # A size the client did not announce is still counted while reading.
        services.contact_import_create(file=io.BytesIO(data), file_name="big.csv")
    assert ContactImport.objects.count() == 0


def test_it_refuses_a_mapping_without_a_phone_column():
    created = services.contact_import_create(
        file=io.BytesIO(csv_bytes("name,email", "Ada,ada@example.com")), file_name="c.csv"
    )
    assert created.mapping == ["name", "email"]
    with pytest.raises(CsvFileError, match="No phone column"):
        services.contact_import_start(
            contact_import=created, mapping=created.mapping, duplicates="overwrite"
        )
    created.refresh_from_db()
    assert created.status == ImportStatus.UPLOADED


def test_it_reads_semicolon_files_with_a_bom():
    data = "\ufeffName;Phone\nAda;415 555 2671\n".encode()
    done = run_import(data)
    assert done.created_count == 1
    assert Contact.objects.get().name == "Ada"


def test_it_leaves_the_database_as_it_was_when_the_write_fails(monkeypatch):
    ContactFactory(phone_e164="+14155552671", name="Ada", email="ada@old.example")
    before = snapshot()
    real_bulk_create = ContactImport.rejections.rel.related_model.objects.bulk_create

    def failing_bulk_create(*args, **kwargs):
        real_bulk_create(*args, **kwargs)
        raise RuntimeError("disk full")

    # Contacts are written first, then the rejections fail: everything must roll back.
    monkeypatch.setattr(
        ContactImport.rejections.rel.related_model.objects, "bulk_create", failing_bulk_create
    )
    done = run_import(
        csv_bytes("name,phone", "Ada Lovelace,415 555 2671", "New,415 555 2672", "Bad,1")
    )
    assert done.status == ImportStatus.FAILED
    assert "nothing was saved" in done.error_message
    assert snapshot() == before
    assert done.rejections.count() == 0


def test_it_gives_up_after_repeated_interruptions():
    created = services.contact_import_create(
        file=io.BytesIO(csv_bytes("phone", "415 555 2671")), file_name="c.csv"
    )
    services.contact_import_start(contact_import=created, mapping=["phone"], duplicates="overwrite")
    ContactImport.objects.filter(pk=created.pk).update(
        status=ImportStatus.RUNNING, attempts=services.MAX_IMPORT_ATTEMPTS
    )
    services.contact_import_run(import_id=created.pk)
    created.refresh_from_db()
    assert created.status == ImportStatus.FAILED
    assert "interrupted 3 times" in created.error_message
    assert Contact.objects.count() == 0


def test_it_does_not_run_a_finished_import_twice():
    done = run_import(csv_bytes("phone", "415 555 2671"))
    Contact.objects.all().delete()
    services.contact_import_run(import_id=done.pk)
    assert Contact.objects.count() == 0


def test_it_imports_2000_rows_quickly():
    lines = [f"Person {i},+1415{2000000 + i},p{i}@example.com" for i in range(2000)]
    data = csv_bytes("name,phone,email", *lines, *lines[:100])
    started = time.perf_counter()
    done = run_import(data)
    elapsed = time.perf_counter() - started
    assert (done.created_count, done.updated_count, done.repeated_count) == (2000, 0, 100)
    assert Contact.objects.count() == 2000
    print(f"\n2,100 rows imported in {elapsed:.2f} s ({2100 / elapsed:,.0f} rows/s)")


def test_it_enqueues_the_import_on_commit_only(django_capture_on_commit_callbacks):
    created = services.contact_import_create(
        file=io.BytesIO(csv_bytes("name,phone", "Ada,415 555 2671")), file_name="c.csv"
    )
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(CsvFileError):
        services.contact_import_start(
            contact_import=created, mapping=["name", ""], duplicates="overwrite"
        )
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        services.contact_import_start(
            contact_import=created, mapping=["name", "phone"], duplicates="overwrite"
        )
    assert len(callbacks) == 1
    with pytest.raises(CsvFileError, match="already been started"):
        services.contact_import_start(
            contact_import=created, mapping=["name", "phone"], duplicates="overwrite"
        )


def import_result(done: ContactImport) -> tuple:
    return (
        done.status,
        done.created_count,
        done.updated_count,
        done.unchanged_count,
        done.repeated_count,
        done.rejected_count,
        list(done.rejections.values_list("line_number", "raw", "reason")),
        list(done.updates.values_list("phone_e164", "changes")),
        [row[:5] for row in snapshot()],
    )


@pytest.mark.parametrize("duplicates", ["fill", "overwrite", "skip"])
def test_it_checks_a_large_file_in_worker_processes_with_the_same_result(
    duplicates, monkeypatch, settings
):
    lines = []
    for i in range(400):
        phone = f"415 555 {1000 + i % 300}" if i % 50 else "12"  # repeats, and a bad row
        lines.append(f"Person {i},{phone},{'' if i % 3 else f'p{i}@example.com'},team {i % 7}")
    data = csv_bytes("name,phone,email,team", *lines)
    mapping = ["name", "phone", "email", "metadata"]
    ContactFactory(phone_e164="+14155551005", name="Stored", metadata={"source": "crm"})
    fields = ("name", "email", "linkedin_url", "time_zone", "metadata")
    stored = Contact.objects.values(*fields).get()

    settings.CALLOPS_CONTACT_IMPORT_WORKERS = 1
    alone = import_result(run_import(data, duplicates=duplicates, mapping=mapping))
    # The same starting point for the second run.
    Contact.objects.exclude(phone_e164="+14155551005").delete()
    Contact.objects.update(**stored)

    pools = []
    real_start_pool = services._start_pool

    def start_pool(*args, **kwargs):
        pools.append(real_start_pool(*args, **kwargs))
        return pools[-1]

    settings.CALLOPS_CONTACT_IMPORT_WORKERS = 2
    monkeypatch.setattr(services, "PARALLEL_MIN_ROWS", 100)
    monkeypatch.setattr(services, "CHUNK_ROWS", 37)
    monkeypatch.setattr(services, "_start_pool", start_pool)
    in_workers = import_result(run_import(data, duplicates=duplicates, mapping=mapping))
    assert pools and pools[0] is not None  # the workers did the checking
    assert in_workers == alone
    assert alone[0] == ImportStatus.DONE and alone[5] == 8


def test_it_combines_the_extra_data_of_a_repeated_number():
    ContactFactory(phone_e164="+14155552671", name="Ada", metadata={"source": "crm", "tier": "1"})
    done = run_import(
        csv_bytes(
            "name,phone,tier,team",
            "Ada L,415 555 2671,2,",
            ",415 555 2671,,blue",
            "Bob,415 555 2672,,red",
            "Bobby,415 555 2672,3,",
        ),
        mapping=["name", "phone", "metadata", "metadata"],
    )
    assert (done.created_count, done.updated_count, done.repeated_count) == (1, 1, 2)
    ada = Contact.objects.get(phone_e164="+14155552671")
    assert ada.name == "Ada L"
    assert ada.metadata == {"source": "crm", "tier": "2", "team": "blue"}
    bob = Contact.objects.get(phone_e164="+14155552672")
    assert (bob.name, bob.metadata) == ("Bobby", {"team": "red", "tier": "3"})


def test_it_reads_the_upload_as_a_stream_with_the_same_rows_and_lines():
    data = csv_bytes("name,phone", '"Two\nlines",123', "", "Ok,415 555 2671", "Émile,1")
    data = b"\xef\xbb\xbf" + data
    assert list(iter_rows(data, ",")) == list(iter_rows(data.decode("utf-8-sig"), ","))
    assert [line for line, _cells in iter_rows(data, ",")] == [2, 5, 6]


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet='ab,;" \r\n\té', max_size=80),
    rows=st.integers(min_value=1, max_value=4),
    bom=st.booleans(),
)
def test_it_cuts_the_file_into_chunks_of_exactly_the_rows_and_lines_it_reads(text, rows, bom):
    """Workers get the text of whole records (a quoted cell may hold line breaks, a quote may
    stand in the middle of a cell) and read the rows and line numbers a single reader finds."""
    data = (b"\xef\xbb\xbf" if bom else b"") + ("name,phone\r\n" + text).encode()
    chunks = list(iter_chunks(data, ",", rows))
    assert [row for chunk in chunks for row in rows_of_chunk(chunk)] == list(iter_rows(data, ","))
    assert "".join(chunk_text for _line, chunk_text, _delimiter in chunks) == text


def test_it_keeps_tabs_backslashes_and_line_breaks_in_cells_as_they_are():
    name = 'Tab\there \\N back\\slash "quoted"\nsecond line'
    data = csv_bytes("name,phone,note", f'"{name.replace(chr(34), chr(34) * 2)}",415 555 2671,\\N')
    done = run_import(data, mapping=["name", "phone", "metadata"])
    assert done.created_count == 1
    contact = Contact.objects.get()
    assert contact.name == name
    assert contact.metadata == {"note": "\\N"}


def test_it_turns_a_row_into_a_copy_line_and_back():
    row = ("+14155552671", "a\tb\\c\nd\re", "", "x@example.com", "", "Etc/GMT", {"k": "v\t\\ é"})
    line = copy_line(row)
    assert line.count("\t") == 6 and line.endswith("\n") and "\n" not in line[:-1]
    assert parse_copy_line(line) == row
    assert parse_copy_line(copy_line((*row[:6], None))) == (*row[:6], None)


def test_it_gives_the_file_s_time_zone_precedence_and_derives_the_rest():
    ContactFactory(phone_e164="+14155552671", name="Ada", time_zone="Europe/Paris")
    ContactFactory(phone_e164="+14155552672", name="Bob", time_zone="Europe/Paris")
    ContactFactory(phone_e164="+14155552673", name="Cy", time_zone="")
    done = run_import(
        csv_bytes(
            "name,phone,zone",
            "Ada,415 555 2671,Asia/Tokyo",  # given: wins over the stored zone
            "Bob,415 555 2672,",  # none given: the stored zone stays
            "Cy,415 555 2673,",  # none given, none stored: derived from the number
            "Di,212 201 0083,",  # new, none given: derived
            "Ed,212 201 0084,Europe/Rome",  # new, given
            "Ed again,212 201 0084,",  # a later row without a zone keeps the given one
            "Fay,212 201 0085,",
            "Fay again,212 201 0085,Africa/Cairo",  # a later row's zone wins
        ),
        mapping=["name", "phone", "time_zone"],
    )
    counts = (done.created_count, done.updated_count, done.unchanged_count, done.repeated_count)
    assert counts == (3, 2, 1, 2)
    zones = dict(Contact.objects.values_list("phone_e164", "time_zone"))
    assert zones == {
        "+14155552671": "Asia/Tokyo",
        "+14155552672": "Europe/Paris",
        "+14155552673": "America/Los_Angeles",
        "+12122010083": "America/New_York",
        "+12122010084": "Europe/Rome",
        "+12122010085": "Africa/Cairo",
    }


def large_file(rows: int) -> bytes:
    return csv_bytes("name,phone", *[f"Person {i},+1415{2000000 + i}" for i in range(rows)])


def test_it_leaves_the_contacts_untouched_when_a_late_row_breaks_the_import(monkeypatch, settings):
    """On PostgreSQL the first chunks are already in the contacts table when a later one
    fails: the transaction takes them back."""
    ContactFactory(phone_e164="+14152000001", name="Stored", email="stored@example.com")
    before = snapshot()
    settings.CALLOPS_CONTACT_IMPORT_WORKERS = 1
    monkeypatch.setattr(services, "CHUNK_ROWS", 10)
    monkeypatch.setattr(import_postgres, "STAGED_WRITE_ROWS", 10)
    data = csv_bytes(
        "name,phone,email",
        *[f"Person {i},+1415{2000000 + i},p{i}@example.com" for i in range(60)],
        "Breaks,+14152999999,boom@example.com",
    )
    real_email_ok = csv_import._email_ok

    def email_ok(value: str) -> bool:
        if value == "boom@example.com":
            raise RuntimeError("the checker broke")
        return real_email_ok(value)

    monkeypatch.setattr(csv_import, "_email_ok", email_ok)
    writes = []
    real_write_staged = import_postgres.PostgresRows._write_staged

    def write_staged(rows):
        writes.append(rows.unwritten)
        real_write_staged(rows)

    monkeypatch.setattr(import_postgres.PostgresRows, "_write_staged", write_staged)
    done = run_import(data)
    assert done.status == ImportStatus.FAILED
    assert "nothing was saved" in done.error_message
    assert snapshot() == before
    assert done.rejections.count() == 0
    if connection.vendor == "postgresql":
        assert len(writes) == 6  # sixty rows were in the contacts table before the failure


def test_it_keeps_nothing_from_a_run_superseded_while_it_checked(monkeypatch, settings):
    """A redelivered task claims the import while this run still checks rows: this run must
    leave everything to it."""
    ContactFactory(phone_e164="+14152000001", name="Stored")
    before = snapshot()
    settings.CALLOPS_CONTACT_IMPORT_WORKERS = 1
    monkeypatch.setattr(services, "CHUNK_ROWS", 10)
    monkeypatch.setattr(import_postgres, "STAGED_WRITE_ROWS", 10)
    claimed = []
    real_check_rows = services._check_rows

    def check_rows(contact_import, *args, **kwargs):
        rejections = real_check_rows(contact_import, *args, **kwargs)
        claimed.append(
            ContactImport.objects.filter(pk=contact_import.pk).update(attempts=F("attempts") + 1)
        )
        return rejections

    monkeypatch.setattr(services, "_check_rows", check_rows)
    done = run_import(large_file(50))
    assert claimed == [1]
    assert done.status == ImportStatus.RUNNING  # the other run's to finish
    assert snapshot() == before
    assert done.rejections.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_shows_progress_but_no_contact_before_the_import_commits(monkeypatch, settings):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes the contacts at the end, after checking")
    settings.CALLOPS_CONTACT_IMPORT_WORKERS = 1
    monkeypatch.setattr(services, "CHUNK_ROWS", 10)
    monkeypatch.setattr(import_postgres, "STAGED_WRITE_ROWS", 10)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 0)
    onlooker = connections.create_connection(connection.alias)  # what the contacts page sees
    seen = []
    real_add = import_postgres.PostgresRows.add

    def add(rows, checked):
        rejected = real_add(rows, checked)
        with onlooker.cursor() as cursor:
            cursor.execute("SELECT max(processed_rows) FROM contacts_contactimport")
            progress = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM contacts_contact")
            seen.append((progress, cursor.fetchone()[0]))
        return rejected

    monkeypatch.setattr(import_postgres.PostgresRows, "add", add)
    try:
        done = run_import(large_file(50))
    finally:
        onlooker.close()
    assert done.status == ImportStatus.DONE and done.created_count == 50
    assert [contacts for _progress, contacts in seen] == [0] * 5
    assert [progress for progress, _contacts in seen] == [0, 10, 20, 30, 40]
    assert Contact.objects.count() == 50


def test_it_reads_short_rows_blank_headers_and_name_parts_by_position():
    from contacts.csv_import import RowChecker

    checker = RowChecker(
        mapping=["first_name", "phone", "name", "metadata", "last_name", "email", "metadata"],
        headers=["First", "Phone", "Name", "", "Last", "Email", "Team"],
        default_region="US",
    )
    assert checker.checked([" Grace ", "415 555 2671", "", " x ", "Hopper"]) == (
        "+14155552671",
        "Grace Hopper",  # no name: first and last name make it
        "",
        "",
        "",
        "America/Los_Angeles",
        {"column 4": "x"},  # a column without a header is named by its place
    )
    assert checker.checked(["Grace", "415 555 2671", "Amazing Grace", "", "", "", "blue"])[1:] == (
        "Amazing Grace",
        "",
        "",
        "",
        "America/Los_Angeles",
        {"Team": "blue"},
    )
    with pytest.raises(ValueError, match="phone: missing phone number"):
        checker.checked(["Grace"])
    with pytest.raises(ValueError, match="name: longer than 200"):
        checker.checked(["", "415 555 2671", "n" * 201, "", "", "not-an-email"])


def test_it_finishes_an_import_whose_progress_cannot_be_published(monkeypatch):
    class BrokenConnection:
        """A second connection that cannot write (no free connection slot, say)."""

        ops = connection.ops

        def cursor(self):
            raise OperationalError("too many connections")

        def close(self):
            pass

    monkeypatch.setattr(services.connections, "create_connection", lambda alias: BrokenConnection())
    done = run_import(large_file(30))
    assert done.status == ImportStatus.DONE and done.created_count == 30


def test_it_keeps_the_uploaded_file_byte_for_byte_and_reads_its_head():
    # Stored and read in binary on PostgreSQL (hex text on the way in and out cost seconds).
    data = csv_bytes("name,phone", *(f"Zoë {i},+1415555{i:04d}" for i in range(2000)))
    created = services.contact_import_create(file=io.BytesIO(data), file_name="c.csv")
    assert selectors.contact_import_file(pk=created.pk) == data
    assert selectors.contact_import_file(pk=created.pk, head=100) == data[:100]
    assert bytes(ContactImport.objects.get(pk=created.pk).data) == data
    # The returned instance cannot write an empty file over the stored one.
    created.file_name = "renamed.csv"
    created.save()
    assert selectors.contact_import_file(pk=created.pk) == data
    assert bytes(created.data) == data
    with pytest.raises(ContactImport.DoesNotExist):
        selectors.contact_import_file(pk=created.pk + 1)


@pytest.mark.parametrize("cut", [30, 31, 47, 60])
def test_it_previews_the_rows_of_a_file_head_leaving_out_the_row_it_cuts(cut):
    data = csv_bytes("name,phone", "Zoë,+14155552671", '"Ann\nMarie",+14155552672', "Bo,+1415")
    head = data[:cut]  # cuts a row, a quoted line break, or "ë" between its two bytes
    rows = csv_import.preview(head, ",", whole_file=False)
    whole = csv_import.preview(data, ",")
    assert rows == whole[: len(rows)]
    assert len(rows) < len(whole)
    assert csv_import.preview(data, ",", limit=2, whole_file=False) == whole[:2]
