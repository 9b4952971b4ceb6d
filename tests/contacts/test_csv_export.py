"""Issue 15 item 12: every CSV callops writes goes through one guard against formula injection,
which leaves a valid phone number's "+" readable."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from calls.models import CallState
from contacts.csv_export import inert_cell
from contacts.models import Contact, ContactImport, ImportStatus
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db

# (name, phone, email) of rows that are all rejected, and how each cell must come back.
HOSTILE_ROWS = [
    # A valid number in a row rejected for its email: the number stays as it was.
    (("=HYPERLINK(\"http://evil.example\",\"x\")", "+1 415 555 2671", "bad"),
     ("'=HYPERLINK(\"http://evil.example\",\"x\")", "+1 415 555 2671", "bad")),
    (("@SUM(A1)", "+12", ""), ("'@SUM(A1)", "'+12", "")),
    (("-2+3", "+cmd|' /C calc'!A0", ""), ("'-2+3", "'+cmd|' /C calc'!A0", "")),
    (("\t=1", "+14155552672", "worse"), ("'\t=1", "+14155552672", "worse")),
    (("\r=1", "-14155552671", "bad"), ("'\r=1", "'-14155552671", "bad")),
    (("+1-800-FLOWERS", "12", "@evil"), ("'+1-800-FLOWERS", "12", "'@evil")),
    (("+44 20 7946 0958", "0", ""), ("+44 20 7946 0958", "0", "")),
]  # fmt: skip


def hostile_file() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "phone", "email", "=cmd|' /C calc'!A0"])
    for cells, _written in HOSTILE_ROWS:
        writer.writerow([*cells, ""])
    return out.getvalue().encode()


def test_it_writes_hostile_cells_of_rejected_rows_inert_and_numbers_readable(
    client_as, django_capture_on_commit_callbacks
):
    client = client_as("operator")
    upload = SimpleUploadedFile("hostile.csv", hostile_file(), content_type="text/csv")
    client.post(reverse("contacts:import"), {"file": upload})
    created = ContactImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("contacts:import_detail", args=[created.pk]),
            {
                "column_0": "name",
                "column_1": "phone",
                "column_2": "email",
                "column_3": "metadata",
                "duplicates": "fill",
            },
        )
    created.refresh_from_db()
    assert (created.status, created.rejected_count) == (ImportStatus.DONE, len(HOSTILE_ROWS))
    assert not Contact.objects.exists()

    response = client.get(reverse("contacts:import_rejected", args=[created.pk]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["line", "reason", "name", "phone", "email", "'=cmd|' /C calc'!A0"]
    assert [row[2:5] for row in rows[1:]] == [list(written) for _cells, written in HOSTILE_ROWS]


def test_it_keeps_the_call_log_export_s_numbers_readable_through_the_same_guard(client_as):
    CallFactory(to_number="+14155552671", from_number="+12", state=CallState.ENDED, summary="-1+1")
    response = client_as("manager").get(reverse("calls:export"))
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["to_number"], row["from_number"], row["summary"]) == (
        "+14155552671",
        "'+12",
        "'-1+1",
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+14155552671", "+14155552671"),
        ("+1 (415) 555-2671", "+1 (415) 555-2671"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("+1 415 555 2671 =1", "'+1 415 555 2671 =1"),  # a number with more behind it
        ("+1-800-FLOWERS", "'+1-800-FLOWERS"),  # valid to phonenumbers, but letters
        ("+12", "'+12"),  # digits, but no valid number
        ("4155552671", "4155552671"),
        ("plain", "plain"),
        (None, ""),
        (42, "42"),
    ],
)
def test_it_quotes_a_cell_unless_it_is_safe_or_a_valid_phone_number(value, written):
    assert inert_cell(value) == written
