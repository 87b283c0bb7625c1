"""Tables and times as the command prints them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

# What a terminal obeys rather than shows: C0 controls but newline and tab (ESC starts
# every escape sequence: clear the screen, set the title, write the clipboard with OSC
# 52; CR overwrites the line), DEL, C1 controls (U+009B is a one-character CSI), and the
# bidirectional controls that make text read other than it is (CVE-2021-42574). Account
# descriptions are free text a project admin writes, and a server can say anything:
# each is shown as its escape (\x1b), never acted on.
_UNSHOWN = [*range(0x20), *range(0x7F, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPED = {
    **{c: f"\\x{c:02x}" for c in _UNSHOWN if chr(c) not in "\n\t"},
    **{c: f"\\u{c:04x}" for c in _BIDI},
}


def printable(text: str) -> str:
    return text.translate(_ESCAPED)


class Printable:
    """A text stream that writes only what printable() leaves: the command's stdout and
    stderr (commands.Context), so no string from the server reaches the terminal raw.
    JSON output (credential_process's, --json) is unchanged: json.dumps escapes these."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last one left as it is."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [str(cell).ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.write("  ".join([*cells, str(row[-1])]).rstrip() + "\n")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def local_time(value: str | None) -> str:
    """An API time (ISO 8601, UTC) in this computer's zone, to the second."""
    moment = parse_time(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def left(value: str | None, now: datetime | None = None) -> str:
    """ "23m left" until an API time."""
    moment = parse_time(value)
    if moment is None:
        return ""
    seconds = int((moment - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "ending"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m left" if hours else f"{max(minutes, 1)}m left"
