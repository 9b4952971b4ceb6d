"""Supervision for `make run`: keep every child process running, or stop everything loudly.

- A child that exits is restarted after a delay that doubles with each crash (1 s, 2 s, 4 s,
  …); one that crashes `max_crashes` times within `window` seconds is not coming back by
  itself, so the supervisor gives up (GiveUp) and the command stops everything with a message.
- A child may have a liveness probe. A Celery worker's main process can stay up while its
  pool processes cannot take a task (after pool processes are killed, the new ones can block
  on a lock the killed ones held), and answering a control ping proves nothing about the pool.
  The probe therefore sends a small task that only a pool process can answer, and a worker
  that has not answered within the deadline is stopped and restarted like a crashed one.

Times are `time.monotonic()` seconds passed in by the caller, so the policy is testable without
waiting. Nothing here knows about Django or Celery: the probe is given its two actions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


class GiveUp(Exception):
    """A child keeps dying: restarting it again would only hide the problem."""


@dataclass
class RestartPolicy:
    """When to restart a child after it stopped, and when to stop trying."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    max_crashes: int = 5
    window: float = 60.0
    crashes: list[float] = field(default_factory=list)

    def delay_after_crash(self, now: float) -> float | None:
        """Seconds to wait before restarting after a crash at `now`; None to give up."""
        self.crashes = [at for at in self.crashes if now - at < self.window]
        self.crashes.append(now)
        if len(self.crashes) >= self.max_crashes:
            return None
        return min(self.max_delay, self.first_delay * 2 ** (len(self.crashes) - 1))


@dataclass
class LivenessProbe:
    """Every `interval` seconds, `send` a probe; a probe not `answered` within `deadline` fails.

    `send` starts a probe (for a worker: forgets the last answer and enqueues a probe task);
    `answered` says whether the probe sent last has been answered. Either may raise (the
    database is busy, the broker is briefly unreachable): that is not the worker's fault, so a
    failed send is tried again later and a failed check counts as "not yet".
    """

    send: Callable[[], None]
    answered: Callable[[], bool]
    interval: float = 15.0
    deadline: float = 90.0
    sent_at: float | None = None
    next_at: float = 0.0

    def restart(self, now: float) -> None:
        """The child (re)started: the first probe goes out one interval from now."""
        self.sent_at = None
        self.next_at = now + self.interval

    def alive(self, now: float) -> bool:
        """False once a probe has gone unanswered for longer than the deadline."""
        if self.sent_at is None:
            if now >= self.next_at:
                try:
                    self.send()
                except Exception:
                    logger.warning("liveness probe not sent; trying again later", exc_info=True)
                    self.next_at = now + self.interval
                else:
                    self.sent_at = now
            return True
        try:
            answered = self.answered()
        except Exception:
            logger.warning("liveness probe not read; trying again", exc_info=True)
            answered = False
        if answered:
            self.sent_at = None
            self.next_at = now + self.interval
            return True
        return now - self.sent_at < self.deadline


@dataclass
class ChildSpec:
    """How to start one child. `on_restart` runs after each restart (not the first start)."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    capture_stdout: bool = False
    on_restart: Callable[[subprocess.Popen[bytes]], None] | None = None
    probe: LivenessProbe | None = None
    # The signal that stops it when its probe fails (SIGKILL follows after a grace period). A
    # Celery worker whose pool is stuck never finishes a warm shutdown (SIGTERM, which waits
    # for running tasks); SIGQUIT is its cold shutdown.
    hung_signal: signal.Signals = signal.SIGTERM


class Child:
    def __init__(self, spec: ChildSpec, policy: RestartPolicy) -> None:
        self.spec = spec
        self.policy = policy
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None
        # Once stopped and reaped, its process group id may be reused by a stranger: never
        # signal it again.
        self.stopped = False

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            self.spec.command,
            env=self.spec.env,
            cwd=self.spec.cwd,
            stdout=subprocess.PIPE if self.spec.capture_stdout else None,
            # Its own session: Ctrl-C reaches only the supervisor, and stopping the child can
            # signal its whole process group (a worker's pool, gunicorn's workers).
            start_new_session=True,
        )
        self.restart_at = None
        self.stopped = False
        return self.process

    def signal_group(self, signum: signal.Signals) -> None:
        if self.process is None or self.stopped:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, *, grace: float, first_signal: signal.Signals = signal.SIGTERM) -> None:
        if self.process is None or self.stopped:
            return
        if self.process.poll() is None:
            self.signal_group(first_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever is left of its group (pool processes of a killed worker) goes too.
        self.signal_group(signal.SIGKILL)
        self.process.wait()
        self.stopped = True


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:  # a signal Python has no name for
        return f"was killed by signal {-code}"
    return f"was killed by signal {-code} ({name})"


class Supervisor:
    """Starts children, restarts them as their policy says, stops them in reverse order."""

    def __init__(
        self,
        *,
        say: Callable[[str], None],
        policy: Callable[[], RestartPolicy] = RestartPolicy,
        stop_grace: float = 15.0,
        hung_grace: float = 5.0,
    ) -> None:
        self.say = say
        self.policy = policy
        self.stop_grace = stop_grace
        self.hung_grace = hung_grace
        self.children: list[Child] = []

    def start(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        child = Child(spec, self.policy())
        self.children.append(child)
        process = child.start()
        if spec.probe is not None:
            spec.probe.restart(time.monotonic())
        return process

    def watch(self, *, every: float = 0.5) -> None:
        """Supervise until GiveUp (or an exception from a signal handler)."""
        while True:
            self.check(time.monotonic())
            time.sleep(every)

    def check(self, now: float) -> None:
        for child in self.children:
            self._check_child(child, now)

    def _check_child(self, child: Child, now: float) -> None:
        spec = child.spec
        if child.restart_at is not None:
            if now >= child.restart_at:
                process = child.start()
                if spec.probe is not None:
                    spec.probe.restart(now)
                if spec.on_restart is not None:
                    spec.on_restart(process)
                self.say(f"Restarted the {spec.name} process (pid {process.pid}).")
            return
        if child.process is None:  # not started: nothing to watch
            return
        code = child.process.poll()
        if code is not None:
            child.stop(grace=0)  # reaps the process and what is left of its group
            self._schedule_restart(child, now, _describe_exit(code))
        elif spec.probe is not None and not spec.probe.alive(now):
            reason = f"has not run a probe task for {spec.probe.deadline:.0f} s"
            self.say(f"The {spec.name} process {reason}: stopping it.")
            child.stop(grace=self.hung_grace, first_signal=spec.hung_signal)
            self._schedule_restart(child, time.monotonic(), reason)

    def _schedule_restart(self, child: Child, now: float, reason: str) -> None:
        delay = child.policy.delay_after_crash(now)
        name = child.spec.name
        if delay is None:
            policy = child.policy
            raise GiveUp(
                f"The {name} process stopped {len(policy.crashes)} times within "
                f"{policy.window:.0f} s (last time it {reason}), so callops stopped everything. "
                "See its output above."
            )
        self.say(f"The {name} process {reason}; restarting it in {delay:.0f} s.")
        child.restart_at = now + delay

    def stop_all(self) -> None:
        # Last started first: the web server (no new work) before beat, the worker (finishes
        # its task) and the sandbox.
        running = [child for child in reversed(self.children) if child.process is not None]
        for child in running:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for child in running:
            child.stop(grace=max(0.1, deadline - time.monotonic()))
        self.children.clear()
