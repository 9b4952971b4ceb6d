"""Keep webhook URL tokens out of every log line callops writes.

A webhook URL (`/webhooks/<vendor>/<token>/`) is the only credential some vendors' deliveries
carry (CallCov signs nothing), so a log line holding it hands out the right to post events. The
token is cut to its first four characters (`/webhooks/callcov/Ab3x****/`): enough to tell two
accounts apart, useless to forge a delivery.

One filter, used in three places: the Django handlers (LOGGING in settings), gunicorn's access
and error logs (`--logger-class dashboard.log_redaction.RedactingGunicornLogger`) and the
handlers Celery installs (dashboard/celery.py).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

# The vendor segment starts with a letter: `/calls/webhooks/<id>/replay` (the inbox) is no token.
WEBHOOK_TOKEN_IN_PATH = re.compile(r"(/webhooks/[A-Za-z][\w-]*/)([^/\s?#\"'<>]+)")
KEPT_CHARACTERS = 4


def mask_webhook_tokens(text: str) -> str:
    return WEBHOOK_TOKEN_IN_PATH.sub(
        lambda match: f"{match.group(1)}{match.group(2)[:KEPT_CHARACTERS]}****", text
    )


class RedactWebhookTokens(logging.Filter):
    """Rewrites a record whose message or traceback holds a webhook token; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's to report
            return True
        masked = mask_webhook_tokens(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_webhook_tokens(record.exc_text)
        return True


def add_redaction(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(existing, RedactWebhookTokens) for existing in target.filters):
        target.addFilter(RedactWebhookTokens())


class AccessLineRequestId(logging.Filter):
    """An access line's request id is the X-Request-ID callops answered with: gunicorn writes
    the line after the request has ended, and hands the response's headers as the args."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.request_id = record.args.get("{x-request-id}o") or "-"
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with webhook tokens masked in the access log (the request line, the
    path, the referer) and in its error log (a bad request's first line); JSON lines when
    callops writes JSON (CALLOPS_LOG_FORMAT), so every line of a production web process is."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # On the loggers, not their handlers: gunicorn writes to them directly, and setup()
        # replaces the handlers on every configuration reload.
        if not any(isinstance(each, AccessLineRequestId) for each in self.access_log.filters):
            # Before the redaction, which replaces the args of a line it masks.
            self.access_log.addFilter(AccessLineRequestId())
        add_redaction(self.access_log)
        add_redaction(self.error_log)
        if _log_format() == "json":
            from accounts.request_id import add_request_id
            from dashboard.log_format import as_json_lines

            for handler in [*self.access_log.handlers, *self.error_log.handlers]:
                add_request_id(handler)
                as_json_lines(handler)


def _log_format() -> str:
    """gunicorn sets up its logger before it loads callops: the settings are read here."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.conf import settings

    return settings.CALLOPS_LOG_FORMAT
