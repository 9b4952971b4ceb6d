"""Conversation metrics on hand-made transcripts whose answers are worked out in the comments."""

from __future__ import annotations

import random

import pytest

from calls.conversation import ConversationMetrics, measure, nearest_rank


def line(speaker: str, start: float | None, end: float | None, text: str) -> dict:
    return {"speaker": speaker, "text": text, "start": start, "end": end}


# Agent 4+10+3 = 17 words over 3.5+5+1.5 = 10 s; customer 3+4 = 7 words over 1.5+2 = 3.5 s.
# Gaps between lines: 0.5, 1.0, 4.0 (a long silence), 0.5.
ALTERNATING = [
    line("agent", 0.5, 4.0, "Hi, this is Ava"),
    line("customer", 4.5, 6.0, "Yes, go ahead."),
    line("agent", 7.0, 12.0, "I am calling about the renewal of your team plan"),
    line("customer", 16.0, 18.0, "Hmm, let me think."),
    line("agent", 18.5, 20.0, "Take your time."),
]


def test_it_measures_an_alternating_conversation():
    metrics = measure(ALTERNATING)
    assert metrics == ConversationMetrics(
        lines=5,
        turns=5,
        agent_words=17,
        customer_words=7,
        timed=True,
        silence_threshold_seconds=3.0,
        agent_talk_seconds=10.0,
        customer_talk_seconds=3.5,
        agent_talk_share=round(10 / 13.5, 4),
        agent_longest_monologue_seconds=5.0,
        customer_longest_monologue_seconds=2.0,
        agent_interruptions=0,
        customer_interruptions=0,
        overlap_seconds=0.0,
        long_silences=1,
        longest_silence_seconds=4.0,
        agent_first_word_seconds=0.5,
        # The agent answered after 1.0 s (6.0 → 7.0) and 0.5 s (18.0 → 18.5).
        agent_responses=2,
        response_gap_p50_seconds=0.5,
        response_gap_p90_seconds=1.0,
        agent_words_per_minute=102.0,  # 17 words in 10 s
        customer_words_per_minute=120.0,  # 7 words in 3.5 s
    )


def test_it_reads_lines_in_order_of_start_whatever_order_they_came_in():
    shuffled = list(ALTERNATING)
    random.Random(7).shuffle(shuffled)
    assert shuffled != ALTERNATING
    assert measure(shuffled) == measure(ALTERNATING)


def test_it_counts_silences_over_the_threshold_it_is_given():
    assert measure(ALTERNATING, silence_seconds=0.9).long_silences == 2  # 1.0 and 4.0
    assert measure(ALTERNATING, silence_seconds=4.0).long_silences == 0  # over, not equal
    assert measure(ALTERNATING, silence_seconds=0.9).silence_threshold_seconds == 0.9


def test_it_counts_interruptions_both_ways_and_the_time_spoken_over():
    transcript = [
        line("agent", 0.0, 10.0, "a long explanation"),
        line("customer", 8.0, 12.0, "sorry but"),  # starts 2 s before the agent ends
        line("agent", 11.0, 15.0, "let me finish"),  # starts 1 s before the customer ends
    ]
    metrics = measure(transcript)
    assert metrics.customer_interruptions == 1
    assert metrics.agent_interruptions == 1
    assert metrics.overlap_seconds == 3.0  # 8-10 and 11-12
    assert metrics.agent_talk_seconds == 14.0  # 0-10 and 11-15
    assert metrics.customer_talk_seconds == 4.0
    assert metrics.turns == 3
    assert metrics.long_silences == 0 and metrics.longest_silence_seconds == 0.0
    # The customer had the last word at 12 s and the agent was already talking: 0 s.
    assert metrics.agent_responses == 1
    assert metrics.response_gap_p50_seconds == 0.0


def test_it_does_not_take_a_backchannel_for_a_question_the_agent_answers():
    transcript = [
        line("agent", 0.0, 20.0, "the whole offer"),
        line("customer", 5.0, 6.0, "uh-huh"),  # while the agent talks on
        line("agent", 20.5, 30.0, "and the price"),
    ]
    metrics = measure(transcript)
    assert metrics.turns == 3
    assert metrics.customer_interruptions == 1
    assert metrics.overlap_seconds == 1.0
    # The agent never waited for the customer: no response gap to measure.
    assert metrics.agent_responses == 0
    assert metrics.response_gap_p50_seconds is None
    assert metrics.response_gap_p90_seconds is None
    assert metrics.agent_longest_monologue_seconds == 20.0
    assert metrics.longest_silence_seconds == 0.5


def test_it_measures_a_monologue_over_several_lines_of_one_side():
    transcript = [
        line("agent", 0.0, 5.0, "one"),
        line("agent", 5.5, 12.0, "two"),
        line("agent", 13.0, 40.0, "three"),
        line("customer", 41.0, 43.0, "bye"),
    ]
    metrics = measure(transcript)
    assert metrics.turns == 2
    assert metrics.agent_longest_monologue_seconds == 40.0  # 0 to 40, pauses included
    assert metrics.customer_longest_monologue_seconds == 2.0
    assert metrics.agent_talk_seconds == 38.5  # 5 + 6.5 + 27, pauses excluded
    assert metrics.long_silences == 0
    assert metrics.longest_silence_seconds == 1.0
    assert metrics.agent_responses == 0  # the customer spoke last: nobody answered


def test_it_counts_a_sides_own_overlapping_lines_once():
    transcript = [line("agent", 0.0, 10.0, "a b"), line("agent", 5.0, 12.0, "c d")]
    metrics = measure(transcript)
    assert metrics.agent_talk_seconds == 12.0
    assert metrics.overlap_seconds == 0.0
    assert metrics.agent_interruptions == 0
    assert metrics.agent_words_per_minute == 20.0  # 4 words in 12 s


def test_it_measures_a_call_where_only_the_agent_spoke():
    metrics = measure([line("agent", 0.5, 25.5, "Hello, this is a voicemail message for you")])
    assert metrics.turns == 1
    assert metrics.agent_talk_share == 1.0
    assert metrics.customer_talk_seconds == 0.0
    assert metrics.customer_words_per_minute is None
    assert metrics.customer_longest_monologue_seconds is None
    assert metrics.agent_longest_monologue_seconds == 25.0
    assert metrics.agent_first_word_seconds == 0.5
    assert metrics.agent_responses == 0
    assert metrics.response_gap_p50_seconds is None
    assert metrics.agent_words_per_minute == 19.2  # 8 words in 25 s


def test_it_measures_a_call_where_only_the_customer_spoke():
    metrics = measure([line("customer", 1.0, 3.0, "Hello? Hello?")])
    assert metrics.agent_talk_share == 0.0
    assert metrics.agent_first_word_seconds is None
    assert metrics.agent_longest_monologue_seconds is None
    assert metrics.customer_longest_monologue_seconds == 2.0


def test_it_counts_only_turns_and_words_without_timestamps():
    transcript = [
        {"speaker": "agent", "text": "Hi there"},
        {"speaker": "agent", "text": "it is Ava"},
        {"speaker": "customer", "text": "Hello"},
        {"speaker": "agent", "text": "How are you"},
    ]
    metrics = measure(transcript)
    assert metrics == ConversationMetrics(lines=4, turns=3, agent_words=8, customer_words=1)
    assert metrics.timed is False
    assert metrics.agent_talk_share is None and metrics.long_silences is None


def test_it_treats_a_transcript_with_one_untimed_line_as_untimed():
    transcript = [*ALTERNATING, {"speaker": "customer", "text": "bye"}]
    metrics = measure(transcript)
    assert metrics.timed is False
    assert metrics.turns == 6
    assert metrics.customer_words == 8
    assert metrics.response_gap_p90_seconds is None


@pytest.mark.parametrize(
    ("start", "end"),
    [(True, 2.0), (1.0, "2.0"), (-1.0, 2.0), (3.0, 2.0), (1.0, float("nan")), (1.0, 90000.0)],
)
def test_it_refuses_times_that_are_not_times(start, end):
    assert measure([line("agent", start, end, "hello")]).timed is False


def test_it_measures_an_empty_or_malformed_transcript_as_empty():
    empty = ConversationMetrics(lines=0, turns=0, agent_words=0, customer_words=0)
    assert measure([]) == empty
    assert measure(None) == empty
    assert measure({"messages": []}) == empty
    assert measure(["text", 3, None, {"speaker": "agent", "text": ""}]) == empty


def test_it_puts_any_speaker_but_the_agent_on_the_customer_side():
    transcript = [line("agent", 0.0, 1.0, "hi"), line("Dana Smith", 1.5, 2.5, "hello there")]
    metrics = measure(transcript)
    assert metrics.customer_words == 2
    assert metrics.turns == 2
    assert metrics.customer_talk_seconds == 1.0


def test_it_takes_nearest_rank_percentiles():
    assert nearest_rank([1.0], 0.9) == 1.0
    assert nearest_rank([1.0, 2.0, 3.0], 0.5) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0], 0.9) == 3.0
    ten = [float(n) for n in range(1, 11)]
    assert nearest_rank(ten, 0.5) == 5.0
    assert nearest_rank(ten, 0.9) == 9.0
