"""One line per benchmark: each figure beside its goal, so `make bench` can be read at a glance.

Every benchmark ends with `print_summary(name, [Goal(...), ...])`; `make bench` repeats the
lines that start with SUMMARY after the last benchmark. Goals are ratios to a reference measured
in the same run wherever the benchmark has one (a shared machine's speed changes from run to
run; a ratio of two figures measured side by side changes far less), absolute otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "SUMMARY"


@dataclass(frozen=True)
class Goal:
    label: str
    value: float
    target: float
    at_most: bool = True  # the value must stay at or under the target (else at or over it)
    unit: str = ""  # "" for a ratio, else "ms", "s", "calls"…

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.at_most else self.value >= self.target

    def __str__(self) -> str:
        sign = "≤" if self.at_most else "≥"
        unit = f" {self.unit}" if self.unit else ""
        value = f"{self.value:.0f}" if self.unit and self.value >= 100 else f"{self.value:.2f}"
        return f"{self.label} {value}{unit} (goal {sign} {self.target:g}{unit}) " + (
            "OK" if self.met else "MISSED"
        )


def summary_line(bench: str, goals: list[Goal]) -> str:
    verdict = "met" if all(goal.met for goal in goals) else "NOT met"
    return f"{PREFIX} {bench}: {verdict}: " + "; ".join(str(goal) for goal in goals)


def print_summary(bench: str, goals: list[Goal]) -> None:
    print(summary_line(bench, goals), flush=True)
