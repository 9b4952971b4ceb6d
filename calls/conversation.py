"""Conversation metrics from a stored transcript: pure Python, no database, no Django.

A transcript is what the calls app stores for every vendor (calls/vendor_calls.py,
calls/revont_import.py): a list of lines `{"speaker": "agent"|"customer", "text", "start",
"end"}`, the times in seconds from the start of the call. Anything that is not the agent (or
Revont's rep) is the customer's side, as the normalisation already decided.

The metrics need every line's times. A transcript where a line has text but no usable times is
*untimed*: only the lines, the turns and the words are counted (every timed figure is None),
since guessing the missing times would make up silences and overlaps.

Definitions (the README's "Quality" section says the same in words):
- a **turn** is a run of consecutive lines of one side, in order of start;
- **talk time** of a side is the union of its lines' spans (its own overlapping lines count
  once); the **agent's talk share** is agent / (agent + customer) talk time;
- a **monologue** is a turn, from its first line's start to its last end; the longest per side;
- an **interruption** is a line that starts before the other side's latest line has ended
  (counted for the side that starts talking); **overlap** is the time both talk at once;
- a **silence** is a gap between lines where nobody talks (before the first line and after the
  last one do not count); those longer than the threshold are counted, the longest is kept;
- the **agent's first word** is the start of its first line;
- an **agent response gap** is the wait between the end of a customer turn that had the last
  word (nobody was still talking) and the start of the agent's next turn; an agent that starts
  before the customer has finished answers at 0 s. p50 and p90 are nearest-rank percentiles;
- **words per minute** of a side: its words over its talk time.

The inner loop is written for speed (the benchmark computes a million transcripts): one pass
over tuples after one sort, local variables, no objects per line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Times beyond a day are not a phone call's: such a line is untimed, as the call page reads it.
MAX_SECONDS = 86400.0
DEFAULT_SILENCE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class ConversationMetrics:
    """What a transcript says about the conversation; None means unknown (no timings)."""

    lines: int
    turns: int
    agent_words: int
    customer_words: int
    timed: bool = False
    silence_threshold_seconds: float = DEFAULT_SILENCE_SECONDS
    agent_talk_seconds: float | None = None
    customer_talk_seconds: float | None = None
    agent_talk_share: float | None = None
    agent_longest_monologue_seconds: float | None = None
    customer_longest_monologue_seconds: float | None = None
    agent_interruptions: int | None = None
    customer_interruptions: int | None = None
    overlap_seconds: float | None = None
    long_silences: int | None = None
    longest_silence_seconds: float | None = None
    agent_first_word_seconds: float | None = None
    agent_responses: int | None = None
    response_gap_p50_seconds: float | None = None
    response_gap_p90_seconds: float | None = None
    agent_words_per_minute: float | None = None
    customer_words_per_minute: float | None = None


def nearest_rank(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list (p90 of 3 values: the 3rd)."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(
    transcript: object, *, silence_seconds: float = DEFAULT_SILENCE_SECONDS
) -> ConversationMetrics:
    """The conversation metrics of one stored transcript (anything malformed is skipped)."""
    rows: list[tuple[float, float, bool]] = []
    timed = True
    lines = turns = agent_words = customer_words = 0
    previous: bool | None = None
    if type(transcript) is list:
        for item in transcript:
            if type(item) is not dict:
                continue
            text = item.get("text")
            if type(text) is not str or not text:
                continue  # the call page skips such lines too
            lines += 1
            is_agent = item.get("speaker") == "agent"
            if is_agent:
                agent_words += len(text.split())
            else:
                customer_words += len(text.split())
            # Turns in the order given, for a transcript without times.
            if is_agent is not previous:
                turns += 1
                previous = is_agent
            if timed:
                start = item.get("start")
                end = item.get("end")
                # type() rather than isinstance(): a bool is an int, and is not a time. The
                # chained comparison is also false for NaN.
                kind, end_kind = type(start), type(end)
                if (
                    (kind is float or kind is int)
                    and (end_kind is float or end_kind is int)
                    and 0.0 <= start <= end < MAX_SECONDS
                ):
                    rows.append((start, end, is_agent))
                else:
                    timed = False
    if not timed or not rows:
        return ConversationMetrics(
            lines=lines,
            turns=turns,
            agent_words=agent_words,
            customer_words=customer_words,
            silence_threshold_seconds=float(silence_seconds),
        )
    return _measure_timed(rows, agent_words, customer_words, float(silence_seconds))


def _measure_timed(
    rows: list[tuple[float, float, bool]],
    agent_words: int,
    customer_words: int,
    silence_seconds: float,
) -> ConversationMetrics:
    rows.sort()
    # Per side: the span being merged into its talk time, and its latest end.
    agent_talk = customer_talk = 0.0
    agent_span_start = agent_span_end = -1.0
    customer_span_start = customer_span_end = -1.0
    # Everyone: the latest end so far (the floor), and the union of all talk.
    floor_end = -1.0
    union_talk = 0.0
    union_start = -1.0
    long_silences = 0
    longest_silence = 0.0
    agent_interruptions = customer_interruptions = 0
    first_agent: float | None = None
    # The turn being built.
    turns = 0
    turn_agent: bool | None = None
    turn_start = turn_end = 0.0
    agent_longest = customer_longest = -1.0
    gaps: list[float] = []
    for start, end, is_agent in rows:
        if is_agent is not turn_agent:
            if turn_agent is not None:
                length = turn_end - turn_start
                if turn_agent:
                    if length > agent_longest:
                        agent_longest = length
                elif length > customer_longest:
                    customer_longest = length
                # A customer turn that had the last word, then the agent: a response.
                if is_agent and turn_end >= floor_end:
                    gaps.append(start - turn_end if start > turn_end else 0.0)
            turns += 1
            turn_agent = is_agent
            turn_start = start
            turn_end = end
        elif end > turn_end:
            turn_end = end
        # Silence: a gap in everyone's talk.
        if start > floor_end:
            if floor_end >= 0.0:
                gap = start - floor_end
                if gap > longest_silence:
                    longest_silence = gap
                if gap > silence_seconds:
                    long_silences += 1
                union_talk += floor_end - union_start
            union_start = start
            floor_end = end
        elif end > floor_end:
            floor_end = end
        # Talk time per side, and interruptions of the other side.
        if is_agent:
            if first_agent is None:
                first_agent = start
            if start < customer_span_end:
                agent_interruptions += 1
            if start > agent_span_end:
                if agent_span_end >= 0.0:
                    agent_talk += agent_span_end - agent_span_start
                agent_span_start = start
                agent_span_end = end
            elif end > agent_span_end:
                agent_span_end = end
        else:
            if start < agent_span_end:
                customer_interruptions += 1
            if start > customer_span_end:
                if customer_span_end >= 0.0:
                    customer_talk += customer_span_end - customer_span_start
                customer_span_start = start
                customer_span_end = end
            elif end > customer_span_end:
                customer_span_end = end
    # Close the last spans and turn.
    if agent_span_end >= 0.0:
        agent_talk += agent_span_end - agent_span_start
    if customer_span_end >= 0.0:
        customer_talk += customer_span_end - customer_span_start
    union_talk += floor_end - union_start
    length = turn_end - turn_start
    if turn_agent:
        agent_longest = max(agent_longest, length)
    else:
        customer_longest = max(customer_longest, length)
    talk = agent_talk + customer_talk
    gaps.sort()
    return ConversationMetrics(
        lines=len(rows),
        turns=turns,
        agent_words=agent_words,
        customer_words=customer_words,
        timed=True,
        silence_threshold_seconds=silence_seconds,
        agent_talk_seconds=_round(agent_talk),
        customer_talk_seconds=_round(customer_talk),
        agent_talk_share=round(agent_talk / talk, 4) if talk > 0 else None,
        agent_longest_monologue_seconds=_round(agent_longest) if agent_longest >= 0 else None,
        customer_longest_monologue_seconds=(
            _round(customer_longest) if customer_longest >= 0 else None
        ),
        agent_interruptions=agent_interruptions,
        customer_interruptions=customer_interruptions,
        overlap_seconds=_round(max(0.0, talk - union_talk)),
        long_silences=long_silences,
        longest_silence_seconds=_round(longest_silence),
        agent_first_word_seconds=_round(first_agent) if first_agent is not None else None,
        agent_responses=len(gaps),
        response_gap_p50_seconds=_round(nearest_rank(gaps, 0.5)) if gaps else None,
        response_gap_p90_seconds=_round(nearest_rank(gaps, 0.9)) if gaps else None,
        agent_words_per_minute=_per_minute(agent_words, agent_talk),
        customer_words_per_minute=_per_minute(customer_words, customer_talk),
    )


def _round(seconds: float) -> float:
    # float(): a transcript's times may be whole numbers, and every figure here is a float.
    return float(round(seconds, 2))


def _per_minute(words: int, seconds: float) -> float | None:
    return round(words * 60.0 / seconds, 1) if seconds > 0 else None
