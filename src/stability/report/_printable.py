"""Control characters from captured output, shown escaped rather than raw.

A test's message, traceback or output may hold NUL bytes, terminal escape sequences,
a carriage return that rewrites a line, or bidirectional overrides that make text read
differently than it is. Every report shows them as visible escapes (`\\x00`, `\\x1b`,
`\\r`, `\\u202e`); newlines and tabs stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

_NAMED = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x08": "\\b", "\x07": "\\a"}
_CONTROL = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
_TABLE: dict[int, str] = {
    **{code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in _CONTROL},
    **{code: f"\\u{code:04x}" for code in _BIDI},
}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab escaped."""
    if text.isprintable():  # the common case: nothing to do (newlines are not printable)
        return text
    return text.replace("\r\n", "\n").translate(_TABLE)


def printable_text(text: str, **style: Any) -> Text:
    """A rich Text of user data for the terminal, control characters escaped."""
    from rich.text import Text

    return Text(printable(text), **style)
