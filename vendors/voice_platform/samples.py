"""Checking a speaker's dataset sample before it is sent: size, and what the bytes really are.

The voice platform takes `audio/*` files up to 20 MB (docs/vendor-readings.md; the document
itself lists only the endpoint and its 30/min limit). A browser's declared type is whatever
the file name suggests, so callops reads the first bytes instead, refuses anything that is not
a common audio container, and sends the type it found.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_MAX_BYTES = 20 * 1024 * 1024
# What the page says it accepts (the `accept` attribute and the help text).
ACCEPTED_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".mp4", ".webm")
# Bytes needed to recognise every format below.
SNIFF_BYTES = 16


class SampleRefused(ValueError):
    """The file cannot be a sample; the message says why, for the person who chose it."""


@dataclass(frozen=True)
class CheckedSample:
    file_name: str
    size: int
    content_type: str


def sniff_audio_type(head: bytes) -> str | None:
    """The audio MIME type the first bytes announce, or None when they announce none."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"
    return None


def check_sample(*, file_name: str, size: int, head: bytes) -> CheckedSample:
    """Refuse an empty, oversized or non-audio file before anything goes to the vendor."""
    label = file_name or "The file"
    if size <= 0:
        raise SampleRefused(f"{label} is empty.")
    if size > SAMPLE_MAX_BYTES:
        raise SampleRefused(
            f"{label} is {size / (1024 * 1024):.1f} MB; the voice platform takes samples of "
            f"at most {SAMPLE_MAX_BYTES // (1024 * 1024)} MB."
        )
    content_type = sniff_audio_type(head[:SNIFF_BYTES])
    if content_type is None:
        raise SampleRefused(
            f"{label} is not an audio file callops recognises "
            "(WAV, MP3, FLAC, Ogg, M4A/MP4 or WebM)."
        )
    return CheckedSample(file_name=file_name or "sample", size=size, content_type=content_type)
