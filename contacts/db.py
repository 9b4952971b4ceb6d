"""The import's direct line to PostgreSQL, for the few statements that move whole files."""

from __future__ import annotations

from typing import Any

from django.db import connection


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def bulk_cursor() -> Any:
    """A cursor for large statements and whole uploads, in the current transaction.

    On PostgreSQL a plain psycopg cursor (COPY, binary and server-side parameters): Django's
    cursor would render every value into the SQL text in Python, a bytea as hex.
    """
    if not on_postgres():
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)
