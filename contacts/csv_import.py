"""Reading a contacts CSV: decoding, dialect, header, column guesses and row validation.

No database here: services.py decides what is stored. Every problem with a file is a
CsvFileError whose message is meant for the person who uploaded it.
"""

from __future__ import annotations

import codecs
import collections
import csv
import gc
import io
import itertools
import json
import os
import re
import threading
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from contacts.consent_import import CONSENT_FIELDS, CONSENT_GUESSES, ConsentColumns, parse_consent
from contacts.phones import (
    PhoneError,
    PhoneNormalizer,
    keep_compiled_phone_patterns,
    normalize_ascii_digits_fast,
)

# Target fields a column can feed; "" means the column is ignored.
FIELDS: dict[str, str] = {
    "": "(ignore)",
    "phone": "Phone",
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "linkedin_url": "LinkedIn URL",
    "time_zone": "Time zone",
    "metadata": "Extra data (kept in metadata)",
    **CONSENT_FIELDS,
}
REQUIRED_FIELD = "phone"
# Fields that at most one column may feed (metadata takes any number).
SINGLE_FIELDS = frozenset(FIELDS) - {"", "metadata"}

# Header spellings each field is guessed from (compared lower-case, without punctuation).
_GUESSES: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "telephone",
        "tel",
        "number",
        "msisdn",
        "e164",
        "phonee164",
    ),
    "name": ("name", "fullname", "contact", "contactname", "displayname"),
    "first_name": ("firstname", "givenname", "first", "forename"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "email": ("email", "emailaddress", "mail", "email1"),
    "linkedin_url": ("linkedin", "linkedinurl", "linkedinprofile", "linkedinprofileurl"),
    "time_zone": ("timezone", "tz", "zone"),
    **CONSENT_GUESSES,
}
_HEADER_KEY = re.compile(r"[^a-z0-9]+")

PREVIEW_ROWS = 10
# The header row is read from at most this much of a file: a header longer than that (a
# million columns, one 50 MB cell) is refused without reading, decoding or parsing the rest.
MAX_HEADER_BYTES = 1024 * 1024
# A column name becomes a metadata key on every imported contact and a label on the mapping
# page: longer than this it is not a name.
MAX_HEADER_CHARS = 500
# What the mapping page reads of an upload for its preview (not the whole file).
PREVIEW_BYTES = 256 * 1024
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
_MAX_LENGTHS = {"name": 200, "email": 254, "linkedin_url": 200, "time_zone": 64}


class CsvFileError(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do."""


class TooManyColumns(CsvFileError):
    """The header names more columns than an import may have (or is too long to read)."""


@dataclass(frozen=True, slots=True)
class CsvHeader:
    delimiter: str
    # The column names found within MAX_HEADER_BYTES: all of them when `complete`.
    headers: list[str]
    complete: bool

    @property
    def count_text(self) -> str:
        return f"{len(self.headers):,}" if self.complete else f"more than {len(self.headers):,}"


@dataclass(frozen=True, slots=True)
class CsvFile:
    text: str
    delimiter: str
    headers: list[str]
    row_count: int
    # Rows after the header with no cell filled: not imported, only counted.
    blank_rows: int = 0


def decode(data: bytes, *, whole_file: bool = True) -> str:
    """UTF-8 (with or without BOM), or an error that says where the file stopped being UTF-8.

    Nothing is guessed: a Latin-1 or UTF-16 file decoded as something else would store wrong
    names without anyone noticing. `data` may be only the file's first bytes
    (whole_file=False): a character they cut through is left out.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFileError(
            "The file is UTF-16 text. Save it as “CSV UTF-8 (comma delimited)” and upload it again."
        )
    try:
        if whole_file:
            return data.decode("utf-8-sig")
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, False)
    except UnicodeDecodeError as exc:
        # The incremental decoder counts from after a byte order mark.
        start = exc.start + (3 if not whole_file and data.startswith(codecs.BOM_UTF8) else 0)
        line = data.count(b"\n", 0, start) + 1
        raise CsvFileError(
            f"The file is not UTF-8 text (byte 0x{data[start]:02X} on line {line}). "
            "Save it as “CSV UTF-8 (comma delimited)” and upload it again."
        ) from None


def _delimiter(text: str) -> str:
    sample = text[:_SNIFF_BYTES]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _reader(text: str, delimiter: str) -> Any:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)


def read_header(data: bytes, *, delimiter: str | None = None) -> CsvHeader:
    """The header row (the first row that is not blank) from the file's first MAX_HEADER_BYTES.

    `data` may be the whole file or only its head; nothing after MAX_HEADER_BYTES is looked at.
    The delimiter is sniffed from the head unless given. Raises TooManyColumns for a column
    name too long for the csv module to read.
    """
    head = data[:MAX_HEADER_BYTES]
    cut = len(data) > len(head)
    text = decode(head, whole_file=not cut)
    delimiter = delimiter or _delimiter(text)
    lines = io.StringIO(text, newline="")
    try:
        for row in csv.reader(lines, delimiter=delimiter, strict=False):
            if not _blank(row):
                # A row that reaches the end of a cut head may go on past it.
                complete = not cut or lines.tell() < len(text)
                return CsvHeader(delimiter, [cell.strip() for cell in row], complete)
    except csv.Error as exc:
        if "field limit" in str(exc):  # the csv module's own bound on a cell, far above ours
            raise TooManyColumns(
                "A column name in the header row (the first line) is longer than "
                f"{csv.field_size_limit():,} characters; at most {MAX_HEADER_CHARS:,} are "
                "allowed. Check that the file is a contacts CSV with one header row."
            ) from None
        raise CsvFileError(f"The file is not a readable CSV file ({exc}).") from None
    return CsvHeader(delimiter, [], not cut)


def check_header(header: CsvHeader, *, max_columns: int) -> None:
    """TooManyColumns when the header has more columns than `max_columns`, does not end
    within MAX_HEADER_BYTES, or names a column with more than MAX_HEADER_CHARS characters."""
    if len(header.headers) > max_columns:
        raise TooManyColumns(
            f"The file has {header.count_text} columns; at most {max_columns:,} can be "
            "imported. Keep only the columns you need and upload it again."
        )
    if not header.complete:
        raise TooManyColumns(
            f"The header row (the first line) is longer than {MAX_HEADER_BYTES // 1024:,} KB; "
            f"it should name at most {max_columns:,} columns. Check that the file is a contacts "
            "CSV with one header row."
        )
    for index, name in enumerate(header.headers):
        if len(name) > MAX_HEADER_CHARS:
            raise TooManyColumns(
                f"The name of column {index + 1} is {len(name):,} characters long; at most "
                f"{MAX_HEADER_CHARS:,} are allowed. Shorten it and upload the file again."
            )


def read_file(data: bytes, *, max_columns: int) -> CsvFile:
    """Decode and check a whole upload: a header and at least one data row, readable as CSV.

    The header is checked first, from the file's head alone: a file with too many columns is
    refused before the rest is decoded or parsed.
    """
    if not data:
        raise CsvFileError("The file is empty.")
    if b"\x00" in data[:_SNIFF_BYTES] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFileError(
            "The file is not a CSV text file (it holds binary data, or UTF-16 text without a "
            "byte order mark). Save it as “CSV UTF-8 (comma delimited)” and upload it again."
        )
    header = read_header(data)
    check_header(header, max_columns=max_columns)
    text = decode(data)
    if not text.strip():
        raise CsvFileError("The file is empty.")
    delimiter = header.delimiter
    rows = blanks = 0
    headers: list[str] | None = None
    try:
        for row in _reader(text, delimiter):
            if headers is None:
                if _blank(row):
                    continue
                headers = [cell.strip() for cell in row]
            elif not _blank(row):
                rows += 1
            else:
                blanks += 1
    except csv.Error as exc:
        raise CsvFileError(f"The file is not a readable CSV file ({exc}).") from None
    if headers is None:
        raise CsvFileError("The file is empty.")
    if rows == 0:
        raise CsvFileError("The file has a header row but no data rows.")
    return CsvFile(
        text=text, delimiter=delimiter, headers=headers, row_count=rows, blank_rows=blanks
    )


def _blank(row: Sequence[str]) -> bool:
    # Nearly every row starts with a cell that is not blank: that settles it without a join.
    if row and row[0] and not row[0].isspace():
        return False
    return not "".join(row).strip()


def guess_mapping(headers: Sequence[str]) -> list[str]:
    """A target field per column from its header; each single field goes to the first match."""
    taken: set[str] = set()
    mapping: list[str] = []
    for header in headers:
        key = _HEADER_KEY.sub("", header.lower())
        guess = next(
            (name for name, keys in _GUESSES.items() if key in keys and name not in taken), ""
        )
        taken.add(guess)
        mapping.append(guess)
    if "name" in taken:
        # A full-name column wins; first/last name columns then stay as extra data.
        mapping = ["metadata" if m in ("first_name", "last_name") else m for m in mapping]
    return mapping


def check_mapping(mapping: Sequence[str], headers: Sequence[str]) -> list[str]:
    """The mapping, one field per column, or CsvFileError saying what is wrong with it."""
    if len(mapping) != len(headers):
        raise CsvFileError(
            f"The mapping names {len(mapping)} columns; the file has {len(headers)}."
        )
    unknown = sorted({m for m in mapping if m not in FIELDS})
    if unknown:
        raise CsvFileError(f"Unknown target field: {', '.join(unknown)}.")
    if REQUIRED_FIELD not in mapping:
        raise CsvFileError(
            "No phone column: choose the column that holds the phone numbers "
            f"(columns: {', '.join(headers) or 'none'})."
        )
    twice = sorted({m for m in mapping if m in SINGLE_FIELDS and mapping.count(m) > 1})
    if twice:
        raise CsvFileError(
            f"Only one column can be used for: {', '.join(FIELDS[m] for m in twice)}."
        )
    return list(mapping)


def mapping_from_headers(assignments: dict[str, str], headers: Sequence[str]) -> list[str]:
    """{"column header": "field"} (as the API takes it) turned into one field per column."""
    mapping = [""] * len(headers)
    for header, target in assignments.items():
        if header not in headers:
            raise CsvFileError(f"No column named “{header}” in the file.")
        mapping[list(headers).index(header)] = target
    return mapping


def preview(
    data: bytes, delimiter: str, limit: int = PREVIEW_ROWS, *, whole_file: bool = True
) -> list[list[str]]:
    """The first rows after the header, for the mapping page.

    `data` may be only the file's first bytes (whole_file=False, see PREVIEW_BYTES): a
    character or row they cut through is left out.
    """
    text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(data, whole_file)
    rows: list[list[str]] = []
    try:
        for _line, row in itertools.islice(iter_rows(text, delimiter), limit + 1):
            rows.append(row)
    except csv.Error:
        # A cell too long to read (a file stored before the header was bounded): the preview
        # ends there; the page says what is wrong with the file.
        return rows[:limit]
    if not whole_file and len(rows) <= limit:
        rows = rows[:-1]  # the last row read may go on past the bytes read
    return rows[:limit]


def iter_rows(text: str | bytes, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells) for every non-blank row after the header.

    Bytes (an upload that passed read_file) are decoded as they are read, so a large file is
    never held a second time as one decoded string.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        stream = io.TextIOWrapper(io.BytesIO(text), encoding="utf-8-sig", newline="")
        reader = csv.reader(stream, delimiter=delimiter, strict=False)
    else:
        reader = _reader(text, delimiter)
    seen_header = False
    last_line = 0
    for row in reader:
        start = last_line + 1
        last_line = reader.line_num
        if _blank(row):
            continue
        if not seen_header:
            seen_header = True
            continue
        yield start, row


# A piece of the file for a worker: (line number of its first line, the text of its lines,
# the delimiter). One string pickles and travels far cheaper than a list of cells per row.
TextChunk = tuple[int, str, str]
# Decoded characters read at a time while the file is cut into chunks.
_READ_CHARS = 1024 * 1024


def iter_chunks(data: bytes, delimiter: str, rows: int) -> Iterator[TextChunk]:
    """The file's records after the header, `rows` at a time (blank ones count too), each
    chunk as the text of its lines; rows_of_chunk gives its rows as iter_rows does.

    The csv module finds where each record ends (a quoted cell may hold line breaks) without
    a Python step per record: the importing process makes no object per row, and the rows'
    cells are made where they are checked. `data` is decoded as it is read.
    """
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    unsent: list[str] = []  # the lines the reader has taken and no chunk has sent yet

    def blocks() -> Iterator[list[str]]:
        while block := stream.readlines(_READ_CHARS):
            unsent.extend(block)
            yield block

    reader = csv.reader(itertools.chain.from_iterable(blocks()), delimiter=delimiter, strict=False)
    for row in reader:
        if not _blank(row):
            break  # the header
    sent = reader.line_num
    del unsent[:sent]
    while True:
        # The reader stops after `rows` records, having read exactly their lines.
        collections.deque(itertools.islice(reader, rows), maxlen=0)
        count = reader.line_num - sent
        if not count:
            return
        yield sent + 1, "".join(unsent[:count]), delimiter
        del unsent[:count]
        sent += count


def rows_of_chunk(chunk: TextChunk) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells) for every row of the chunk that is not blank."""
    first_line, text, delimiter = chunk
    reader = _reader(text, delimiter)
    before = first_line - 1  # lines of the file before the chunk
    last_line = before
    for row in reader:
        start = last_line + 1
        last_line = before + reader.line_num
        if _blank(row):
            continue
        yield start, row


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


_validate_url = URLValidator(schemes=["http", "https"])

# The plain addresses Django's validate_email accepts, checked in one regex match; anything
# else (quoted local parts, IDN, literals, or invalid) goes through validate_email itself.
_PLAIN_EMAIL = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.IGNORECASE,
)


def _email_ok(value: str) -> bool:
    if len(value) <= 254 and _PLAIN_EMAIL.fullmatch(value):
        return True
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


class RowChecker:
    """Turns raw cells into a CheckedRow or a rejection reason, with the phone parser's cache."""

    def __init__(self, *, mapping: Sequence[str], headers: Sequence[str], default_region: str):
        self.normalize = PhoneNormalizer(default_region=default_region)
        # Where each field is read (None: no column feeds it); a later column wins, as when
        # the cells were gathered in a dict.
        where = {target: i for i, target in enumerate(mapping) if target and target != "metadata"}
        self.phone_at = where.get("phone")
        self.name_at = where.get("name")
        self.first_name_at = where.get("first_name")
        self.last_name_at = where.get("last_name")
        self.email_at = where.get("email")
        self.linkedin_url_at = where.get("linkedin_url")
        self.time_zone_at = where.get("time_zone")
        self.consent_columns = ConsentColumns.from_mapping(mapping)
        self.metadata_at = [
            (i, headers[i] or f"column {i + 1}")
            for i, target in enumerate(mapping)
            if target == "metadata"
        ]

    def checked(self, cells: Sequence[str]) -> CheckedRow:
        """The row as a CheckedRow, or ValueError with the reason (the first problem found:
        phone, then lengths, then email, LinkedIn URL and time zone).

        A million rows go through here: the cells are read by position, with no dict per row.
        """
        count = len(cells)
        at = self.phone_at
        try:
            phone = self.normalize(cells[at].strip() if at is not None and at < count else "")
        except PhoneError as exc:
            raise ValueError(f"phone: {exc.reason}") from None
        at = self.name_at
        name = cells[at].strip() if at is not None and at < count else ""
        if not name and (self.first_name_at is not None or self.last_name_at is not None):
            at = self.first_name_at
            first = cells[at].strip() if at is not None and at < count else ""
            at = self.last_name_at
            last = cells[at].strip() if at is not None and at < count else ""
            if first or last:
                name = f"{first} {last}".strip()
        at = self.email_at
        email = cells[at].strip() if at is not None and at < count else ""
        at = self.linkedin_url_at
        linkedin_url = cells[at].strip() if at is not None and at < count else ""
        at = self.time_zone_at
        time_zone = cells[at].strip() if at is not None and at < count else ""
        if len(name) > _MAX_LENGTHS["name"]:
            raise ValueError(f"name: longer than {_MAX_LENGTHS['name']} characters")
        if len(email) > _MAX_LENGTHS["email"]:
            raise ValueError(f"email: longer than {_MAX_LENGTHS['email']} characters")
        if len(linkedin_url) > _MAX_LENGTHS["linkedin_url"]:
            raise ValueError(f"linkedin_url: longer than {_MAX_LENGTHS['linkedin_url']} characters")
        if len(time_zone) > _MAX_LENGTHS["time_zone"]:
            raise ValueError(f"time_zone: longer than {_MAX_LENGTHS['time_zone']} characters")
        if email and not _email_ok(email):
            raise ValueError(f"email: not a valid address “{email}”")
        if linkedin_url:
            try:
                _validate_url(linkedin_url)
            except ValidationError:
                raise ValueError("linkedin_url: not a valid http(s) URL") from None
        if time_zone and time_zone not in _time_zones():
            raise ValueError(f"time_zone: unknown time zone “{time_zone}”")
        if self.consent_columns is not None:
            parse_consent(cells, self.consent_columns)  # stored after the contacts, if valid
        metadata: dict[str, str] | None = None
        for at, key in self.metadata_at:
            cell = cells[at].strip() if at < count else ""
            if cell:
                if metadata is None:
                    metadata = {}
                metadata[key] = cell
        return (phone.e164, name, email, linkedin_url, time_zone, phone.time_zone, metadata)


# --- Checking rows in other processes -------------------------------------------------------------
# A checked row as it travels between processes and into the staging table: small and picklable.
# (phone_e164, name, email, linkedin_url, time_zone given, time zone derived from the number,
#  metadata or None)
CheckedRow = tuple[str, str, str, str, str, str, dict[str, str] | None]
# A rejected row: (line number, raw cells, reason).
RejectedRow = tuple[int, list[str], str]

_worker_checker: RowChecker | None = None


def init_worker(mapping: Sequence[str], headers: Sequence[str], default_region: str) -> None:
    """Runs once in each worker process: one checker, so its phone cache lasts the whole run."""
    global _worker_checker  # noqa: PLW0603 - one checker per worker process, by design
    keep_compiled_phone_patterns()
    normalize_ascii_digits_fast()
    _worker_checker = RowChecker(mapping=mapping, headers=headers, default_region=default_region)


def init_pool_worker(
    mapping: Sequence[str], headers: Sequence[str], default_region: str, parent: int
) -> None:
    """init_worker for a process of the import's own pool, which lives for one import.

    Its cyclic garbage collector is switched off: checking rows makes no reference cycles
    worth collecting (the process ends with the import), while the collector's passes over
    the unpickled chunks and the growing number cache cost about a fifth of the checking.
    """
    gc.disable()
    _leave_with_parent(parent)
    init_worker(mapping, headers, default_region)


def _leave_with_parent(parent: int) -> None:
    """Ends this worker when `parent`, the process that started it, is gone (a Celery worker
    killed by its time limit or SIGKILL): otherwise it would wait for chunks forever, as it
    holds the queue's other end itself. The parent's pid comes from the parent: read here, it
    could already be the reaper's if the parent died while this worker started."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="leave-with-parent", daemon=True).start()


def check_chunk(
    chunk: TextChunk, checker: RowChecker | None = None
) -> tuple[list[CheckedRow], list[RejectedRow], int]:
    """Checks a chunk's rows: the accepted ones in file order, the rejected ones, and how
    many rows (not blank) it held."""
    checked = (checker or _worker_checker).checked  # type: ignore[union-attr]
    accepted: list[CheckedRow] = []
    rejected: list[RejectedRow] = []
    rows = 0
    for line, cells in rows_of_chunk(chunk):
        rows += 1
        try:
            accepted.append(checked(cells))
        except ValueError as exc:
            rejected.append((line, cells, str(exc)))
    return accepted, rejected, rows


# COPY's text format: a tab between columns, \N for NULL, and these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
_COPY_ESCAPED = re.compile(r"\\[\\tnr]")


def _copy_text(text: str) -> str:
    # Most cells hold none of these: four scans in C are far cheaper than a translate().
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def copy_line(row: CheckedRow) -> str:
    """The row as one line of PostgreSQL COPY text (the staging table's columns, in order)."""
    phone, name, email, linkedin_url, time_zone, derived, metadata = row
    # The number (digits) and the zone derived from it (an IANA name) never need escaping;
    # the cells from the file rarely do: one look at them together decides.
    texts = f"{name}\t{email}\t{linkedin_url}\t{time_zone}"
    if "\\" in texts or "\n" in texts or "\r" in texts or texts.count("\t") != 3:
        texts = "\t".join(map(_copy_text, (name, email, linkedin_url, time_zone)))
    extra = _copy_text(json.dumps(metadata, ensure_ascii=False)) if metadata else "\\N"
    return f"{phone}\t{texts}\t{derived}\t{extra}\n"


def parse_copy_line(line: str) -> CheckedRow:
    """copy_line's row back (for the few rows of a number seen before)."""
    *texts, metadata = (
        _COPY_ESCAPED.sub(lambda m: _COPY_UNESCAPES[m.group(0)], cell)
        for cell in line[:-1].split("\t")
    )
    phone, name, email, linkedin_url, time_zone, derived = texts
    return (
        phone,
        name,
        email,
        linkedin_url,
        time_zone,
        derived,
        json.loads(metadata) if metadata != "\\N" else None,
    )


def check_chunk_for_copy(chunk: TextChunk) -> tuple[list[str], list[str], list[RejectedRow], int]:
    """check_chunk with the accepted rows ready for COPY: (numbers, COPY lines, rejected,
    rows).

    Formatting the lines here, in the worker processes, leaves the importing process little
    more than reading the file and writing what comes back.
    """
    accepted, rejected, rows = check_chunk(chunk)
    return [row[0] for row in accepted], [copy_line(row) for row in accepted], rejected, rows
