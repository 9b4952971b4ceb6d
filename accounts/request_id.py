"""One id per request, on its response, on each of its log lines and on the tasks it enqueues.

A request keeps the `X-Request-ID` a proxy or client sent when it looks like an id (letters,
digits, `-_.:` and at most 64 characters; anything else could forge log lines or carry a
secret into them), else gets a fresh one. The id lives in a context variable, so code deep in a
service logs it without passing it along; `RequestIdFilter` puts it on every log record, and the
Celery signals in dashboard/celery.py carry it in a message header to the task, which logs it
too ("-" on lines that belong to no request).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# The Celery message header that carries the id of the request that enqueued a task.
TASK_HEADER = "callops_request_id"
NO_REQUEST = "-"

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: ContextVar[str] = ContextVar("callops_request_id", default=NO_REQUEST)


def current_request_id() -> str:
    return _current.get()


def sane_request_id(value: object) -> str | None:
    if isinstance(value, str) and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind_request_id(value: str) -> Token[str]:
    return _current.set(value)


def unbind_request_id(token: Token[str]) -> None:
    _current.reset(token)


def request_id_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """First in MIDDLEWARE, so every line logged while the request runs carries its id."""

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind_request_id(request_id)
        try:
            response = get_response(request)
        finally:
            unbind_request_id(token)
        response[HEADER] = request_id
        return response

    return middleware


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record (on handlers: it then reaches every logger's lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # Django logs a 4xx/5xx response ("Not Found: /x") after the middleware has
            # returned, with the request in the record: its id is on it.
            of_request = getattr(getattr(record, "request", None), "request_id", None)
            record.request_id = of_request or current_request_id()
        return True


def add_request_id(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(existing, RequestIdFilter) for existing in target.filters):
        target.addFilter(RequestIdFilter())


# --- Celery: the id travels in a message header (connected in dashboard/celery.py) -----------


def put_request_id_in_headers(headers: dict[str, Any] | None, **kwargs: Any) -> None:
    """before_task_publish: a task enqueued while a request (or a task) runs carries its id."""
    request_id = current_request_id()
    if headers is not None and request_id != NO_REQUEST:
        headers.setdefault(TASK_HEADER, request_id)


def request_id_of_task(task_request: Any) -> str | None:
    """The id a task's message carried: Celery puts custom headers on the request itself, and
    older message protocols kept them under `headers`."""
    value = getattr(task_request, TASK_HEADER, None)
    if value is None:
        value = (getattr(task_request, "headers", None) or {}).get(TASK_HEADER)
    return sane_request_id(value)


_task_tokens: dict[str, Token[str]] = {}


def bind_task_request_id(task_id: str | None, task: Any, **kwargs: Any) -> None:
    """task_prerun: the task's lines carry the id of the request that enqueued it."""
    request_id = request_id_of_task(task.request)
    if request_id is not None and task_id is not None:
        _task_tokens[task_id] = bind_request_id(request_id)


def unbind_task_request_id(task_id: str | None, **kwargs: Any) -> None:
    """task_postrun: back to no request, so the pool process's next task starts clean."""
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            unbind_request_id(token)
        except ValueError:  # reset from another context (a thread pool): forget it instead
            bind_request_id(NO_REQUEST)
