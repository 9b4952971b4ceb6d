"""The embedded broker of `make run`: kombu's SQLAlchemy transport on a SQLite file, polled
ten times a second instead of once, and kept to the messages still waiting.

kombu's polling transports sleep `polling_interval` whenever they cannot hand the worker a
message, and that includes the moment the worker already holds as many unacknowledged
tasks as it may (one per process, CELERY_WORKER_PREFETCH_MULTIPLIER = 1). At kombu's default
of one second, a two-process worker took at most two tasks a second, fewer than the beat's
jobs and the sandbox's webhooks bring: a queue formed, and a call placed from the page or an
import waited 5-10 s before a worker started it. A poll is one small SELECT on SQLite.

kombu also marks a message it hands out as invisible and keeps it for good (nothing ever
makes it visible again, so it is as gone as a deleted one), and each poll walks past all of
them in order of age: over a day of `make run` that is ~170,000 rows per poll. Taken messages
are deleted once a minute instead.

Used when the broker URL is a SQLite file (settings.CELERY_BROKER_TRANSPORT); brokers with a
server (Redis, RabbitMQ) push their messages and are not concerned.
"""

from __future__ import annotations

import logging
import time

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from sqlalchemy.exc import OperationalError

logger = logging.getLogger(__name__)

# Seconds between two clean-ups of taken messages.
FORGET_TAKEN_EVERY = 60.0


class Channel(kombu_sqlalchemy.Channel):
    _forgotten_at = float("-inf")

    def _get(self, queue):
        now = time.monotonic()
        if now - self._forgotten_at >= FORGET_TAKEN_EVERY:
            self._forgotten_at = now
            self.forget_taken_messages()
        return super()._get(queue)

    def forget_taken_messages(self) -> int:
        """Deletes the messages already handed to a worker; how many."""
        message = self.message_cls
        try:
            deleted = (
                self.session.query(message)
                .filter(message.visible.is_(False))
                .delete(synchronize_session=False)
            )
            self.session.commit()
        except OperationalError:
            # Busy (another process writing): the next clean-up will do.
            self.session.rollback()
            logger.info("embedded broker: taken messages not deleted this time", exc_info=True)
            return 0
        return deleted


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
    polling_interval = 0.1
