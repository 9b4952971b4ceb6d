"""Production log lines: one JSON object per event (CALLOPS_LOG_FORMAT=json, the default without
DEBUG).

python-json-logger rather than structlog: it is a formatter for the standard `logging` that
Django, Celery, gunicorn and every callops module already write to, so one handler setting makes
every line JSON, and the two filters on that handler (webhook tokens masked, request id added)
apply to them unchanged; structlog would mean a second logging API beside the one in use.

A line: {"time", "level", "logger", "message", "request_id", "task", "task_id"?, "exc_info"?,
and any `extra=` fields}. Times are UTC ISO 8601.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import current_task
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from dashboard.log_redaction import mask_webhook_tokens


class JsonLines(JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        # Django puts the request object on its response lines: its repr is noise (and holds the
        # path, token and all); the line has the message and the request id instead.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        task = current_task
        if task and getattr(task, "request", None) is not None and task.request.id:
            log_data.setdefault("task", task.name)
            log_data.setdefault("task_id", task.request.id)

    def format(self, record: logging.LogRecord) -> str:
        # The redaction filter masked the message and exc_text; the parent would format the
        # traceback again from exc_info, and `extra=` fields were never masked: the whole line is.
        if record.exc_info and record.exc_text:
            exc_info, record.exc_info = record.exc_info, None
            try:
                return mask_webhook_tokens(super().format(record))
            finally:
                record.exc_info = exc_info
        return mask_webhook_tokens(super().format(record))


def as_json_lines(handler: logging.Handler) -> None:
    handler.setFormatter(JsonLines())
