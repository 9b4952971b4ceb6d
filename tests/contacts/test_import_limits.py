"""Issue 15 item 3: a contact CSV's columns are limited at upload, and the mapping page of an
import stored before the limit stays small and fast."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts import services
from contacts.csv_import import MAX_HEADER_BYTES
from contacts.models import Contact, ContactImport, ImportStatus
from tests.factories import ContactImportFactory

pytestmark = pytest.mark.django_db

API_IMPORT = "/api/v1/contacts/import"
# The refusals read only the file's head: far below what parsing a 50 MB file takes.
QUICK_SECONDS = 5


def header(columns: int) -> str:
    # Short names, so that even 200,000 of them fit in the header's bounded read (1 MB) and
    # the refusal can give the exact count.
    return ",".join(["phone", *(f"c{i % 100}" for i in range(columns - 1))])


def csv_upload(data: bytes, name: str = "wide.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def wide_file(columns: int, rows: int = 1) -> bytes:
    row = ",".join(["+14155552671", *("x" for _ in range(columns - 1))])
    return (header(columns) + "\n" + (row + "\n") * rows).encode()


def upload_page(client, data: bytes):
    return client.post(reverse("contacts:import"), {"file": csv_upload(data)})


def upload_api(client, data: bytes):
    return client.post(API_IMPORT, {"file": csv_upload(data)})


def refusal_text(response) -> str:
    if response["Content-Type"].startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] == "invalid_file"
        return error["message"]
    return response.content.decode()


@pytest.mark.parametrize("upload", [upload_page, upload_api], ids=["page", "api"])
@pytest.mark.parametrize(
    ("columns", "count"), [(201, "201"), (200_000, "200,000")], ids=["201", "200000"]
)
def test_it_refuses_a_file_with_too_many_columns_naming_limit_and_count(
    client_as, upload, columns, count
):
    data = wide_file(columns)
    started = time.monotonic()
    response = upload(client_as("operator"), data)
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert f"The file has {count} columns; at most 200 can be imported." in refusal_text(response)
    assert not ContactImport.objects.exists()
    assert elapsed < QUICK_SECONDS


@pytest.mark.parametrize("upload", [upload_page, upload_api], ids=["page", "api"])
def test_it_refuses_the_columns_before_reading_the_rest_of_the_file(client_as, upload):
    # A byte that is not UTF-8 at the very end: a refusal that had decoded the whole file
    # would name that byte, not the columns.
    data = wide_file(201, rows=20_000) + b"\xff\n"
    response = upload(client_as("operator"), data)
    assert response.status_code == 400
    text = refusal_text(response)
    assert "The file has 201 columns; at most 200 can be imported." in text
    assert "not UTF-8" not in text


def test_it_accepts_exactly_the_limit_and_a_limit_set_higher(client_as, settings):
    client = client_as("operator")
    assert upload_page(client, wide_file(200)).status_code == 302
    settings.CALLOPS_CONTACT_IMPORT_MAX_COLUMNS = 300
    assert upload_page(client, wide_file(300)).status_code == 302
    assert upload_page(client, wide_file(301)).status_code == 400
    assert ContactImport.objects.count() == 2


@pytest.mark.parametrize("upload", [upload_page, upload_api], ids=["page", "api"])
def test_it_refuses_a_header_of_one_huge_cell_quickly(client_as, upload):
    data = b"phone" + b"x" * (49 * 1024 * 1024) + b"\n+14155552671\n"
    started = time.monotonic()
    response = upload(client_as("operator"), data)
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert "A column name in the header row (the first line) is longer than" in refusal_text(
        response
    )
    assert not ContactImport.objects.exists()
    assert elapsed < QUICK_SECONDS


@pytest.mark.parametrize("upload", [upload_page, upload_api], ids=["page", "api"])
def test_it_refuses_a_header_row_longer_than_its_bounded_read(client_as, upload):
    # 100 names of 20,000 characters each: none is too long for the csv module to read, but
    # together they go on past the header's bounded read.
    names = [f"{i:03d}" + "n" * 20_000 for i in range(100)]
    data = (",".join(["phone", *names]) + "\n+14155552671\n").encode()
    assert len(data) > MAX_HEADER_BYTES
    response = upload(client_as("operator"), data)
    assert response.status_code == 400
    assert "The header row (the first line) is longer than 1,024 KB" in refusal_text(response)
    assert not ContactImport.objects.exists()


def test_it_refuses_a_column_name_too_long_to_be_a_name(client_as):
    data = ("phone," + "n" * 501 + "\n+14155552671,x\n").encode()
    response = upload_page(client_as("operator"), data)
    assert response.status_code == 400
    assert "The name of column 2 is 501 characters long; at most 500" in refusal_text(response)
    assert not ContactImport.objects.exists()


def stored_before_the_limit(headers: list[str], data: bytes) -> ContactImport:
    """An import uploaded before the column limit existed, waiting for its mapping."""
    return ContactImportFactory(
        status=ImportStatus.UPLOADED,
        headers=headers,
        mapping=["phone", *([""] * (len(headers) - 1))],
        data=data,
        file_size=len(data),
        total_rows=1,
        processed_rows=0,
        created_count=0,
        rejected_count=0,
        rejection=None,
    )


def wide_import(columns: int) -> ContactImport:
    return stored_before_the_limit(header(columns).split(","), wide_file(columns))


@pytest.mark.parametrize(("columns", "count"), [(201, "201"), (200_000, "200,000")])
def test_it_answers_the_mapping_page_of_a_stored_wide_import_quickly_and_small(
    client_as, columns, count
):
    stored = wide_import(columns)
    started = time.monotonic()
    response = client_as("operator").get(reverse("contacts:import_detail", args=[stored.pk]))
    elapsed = time.monotonic() - started
    page = response.content.decode()
    assert response.status_code == 200
    assert f"The file has {count} columns; at most 200 can be imported." in page
    assert "<select" not in page  # nothing to map: this file cannot be imported
    assert page.count('<th scope="col">') == 200  # the first 200 columns, for reference
    assert len(response.content) < 100_000
    assert elapsed < QUICK_SECONDS


def test_it_answers_the_mapping_page_of_a_stored_header_of_one_huge_cell(client_as):
    cell = "phone" + "x" * (4 * MAX_HEADER_BYTES)
    stored = stored_before_the_limit([cell], (cell + "\n+14155552671\n").encode())
    response = client_as("operator").get(reverse("contacts:import_detail", args=[stored.pk]))
    assert response.status_code == 200
    assert "A column name in the header row (the first line) is longer than" in (
        response.content.decode()
    )
    assert len(response.content) < 100_000


def test_it_refuses_to_start_a_stored_wide_import_and_changes_nothing(
    client_as, django_capture_on_commit_callbacks
):
    stored = wide_import(201)
    form = {f"column_{i}": "" for i in range(201)} | {"column_0": "phone", "duplicates": "fill"}
    with django_capture_on_commit_callbacks() as queued:
        response = client_as("operator").post(
            reverse("contacts:import_detail", args=[stored.pk]), form
        )
    assert response.status_code == 400
    assert "The file has 201 columns; at most 200 can be imported." in response.content.decode()
    stored.refresh_from_db()
    assert stored.status == ImportStatus.UPLOADED
    assert not queued


def test_it_fails_a_wide_import_queued_before_the_limit_without_importing(client_as):
    stored = wide_import(201)
    ContactImport.objects.filter(pk=stored.pk).update(status=ImportStatus.PENDING)
    services.contact_import_run(import_id=stored.pk)
    stored.refresh_from_db()
    assert stored.status == ImportStatus.FAILED
    assert "The file has 201 columns; at most 200 can be imported." in stored.error_message
    assert not Contact.objects.exists()
    page = client_as("operator").get(reverse("contacts:import_detail", args=[stored.pk]))
    assert "at most 200 can be imported" in page.content.decode()
