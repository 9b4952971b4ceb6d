"""Deterministic call recordings: 8 kHz, 16-bit mono WAV computed on demand.

Every second of a recording is one of a few precomputed one-second blocks (agent speech,
customer speech, silence), chosen from the call's transcript. Any byte range can therefore
be produced by slicing blocks, without building the whole file in memory.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Iterator
from functools import lru_cache

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
BLOCK_BYTES = SAMPLE_RATE * SAMPLE_WIDTH  # one second of audio
HEADER_BYTES = 44
CHUNK_BYTES = 64 * 1024

SILENCE, AGENT, CUSTOMER = 0, 1, 2


def wav_header(frame_count: int) -> bytes:
    """The canonical 44-byte RIFF header for `frame_count` frames.

    The `wave` module writes the header of an empty file; the two size fields are then set
    for the real length, since the samples themselves are produced lazily.
    """
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(b"")
    header = bytearray(buffer.getvalue()[:HEADER_BYTES])
    data_bytes = frame_count * SAMPLE_WIDTH
    struct.pack_into("<I", header, 4, HEADER_BYTES - 8 + data_bytes)  # RIFF chunk size
    struct.pack_into("<I", header, 40, data_bytes)  # data chunk size
    return bytes(header)


@lru_cache(maxsize=16)
def _block(kind: int, voice: int) -> bytes:
    """One second of speech-like sound: a voiced tone with syllable-rate amplitude bumps."""
    if kind == SILENCE:
        return bytes(BLOCK_BYTES)
    base_pitch = (120.0 if kind == AGENT else 210.0) + 15.0 * voice
    samples = []
    for index in range(SAMPLE_RATE):
        t = index / SAMPLE_RATE
        syllable = max(0.0, math.sin(2 * math.pi * 4.0 * t)) ** 2
        tone = (
            math.sin(2 * math.pi * base_pitch * t)
            + 0.5 * math.sin(2 * math.pi * 2 * base_pitch * t)
            + 0.25 * math.sin(2 * math.pi * 3 * base_pitch * t)
        )
        samples.append(int(7000 * syllable * tone))
    return struct.pack(f"<{SAMPLE_RATE}h", *samples)


class WavRecording:
    def __init__(
        self, duration_seconds: int, turns: list[tuple[float, float, int]], voice: int = 0
    ) -> None:
        """`turns` are (start, end, AGENT | CUSTOMER) in seconds from the start of the call."""
        self.duration_seconds = duration_seconds
        self.voice = voice % 4
        self._second_kinds = [SILENCE] * duration_seconds
        for start, end, speaker in turns:
            for second in range(int(start), min(duration_seconds, math.ceil(end))):
                self._second_kinds[second] = speaker
        self.header = wav_header(duration_seconds * SAMPLE_RATE)

    @property
    def size(self) -> int:
        return HEADER_BYTES + self.duration_seconds * BLOCK_BYTES

    def iter_bytes(self, first: int, last: int) -> Iterator[bytes]:
        """Yield bytes first..last (inclusive) in chunks of at most CHUNK_BYTES."""
        position = first
        while position <= last:
            if position < HEADER_BYTES:
                end = min(last + 1, HEADER_BYTES)
                yield self.header[position:end]
                position = end
                continue
            offset = position - HEADER_BYTES
            second, within = divmod(offset, BLOCK_BYTES)
            end_within = min(BLOCK_BYTES, within + (last + 1 - position), within + CHUNK_BYTES)
            yield _block(self._second_kinds[second], self.voice)[within:end_within]
            position += end_within - within


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """Parse a single `bytes=` range.

    Returns (first, last) inclusive, None to serve the whole file (no header, or a form we
    do not honour such as multiple ranges), or "unsatisfiable" for a 416.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[len("bytes=") :].strip()
    first_text, _, last_text = spec.partition("-")
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix <= 0 or size == 0:
                return "unsatisfiable"
            return max(0, size - suffix), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)
