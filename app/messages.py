"""Error messages in the user's words. The core's one-line errors ("path: problem") may end with a
library's own text in parentheses (torch's "[enforce fail at inline_container.cc:180] ...",
onnxruntime's "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF ..."): that text becomes the message's
details, and the few library causes a user meets most get a plain phrase instead of the problem."""

from __future__ import annotations

import re

# Marks of a library's text: "[tag]", "file.cc:180", an exception class name, protobuf.
LIBRARY_TEXT = re.compile(
    r"\[[^\]]*\]|\b\w+\.(?:cc|cpp|c|h|py):\d+|\b[A-Z]\w*(?:Error|Exception)\b|protobuf", re.I
)
# (what the library says, what the user is told instead of the core's problem)
PLAIN_CAUSES = (
    ("INVALID_PROTOBUF", "not an ONNX model (its content is not an ONNX graph)"),
    ("not in a subdirectory", "not a PyTorch checkpoint (a zip archive of other files)"),
)


def _trailing_parenthesis(text: str) -> int:
    """Where the parenthesis that closes ``text`` opens (-1: none)."""
    if not text.endswith(")"):
        return -1
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def plain_message(message: str) -> tuple[str, str]:
    """``message`` (one line) -> (the line in the user's words, the library's text or "")."""
    start = _trailing_parenthesis(message)
    detail = message[start + 1 : -1] if start > 0 else ""
    if not detail or not LIBRARY_TEXT.search(detail):
        return message, ""
    head = message[:start].rstrip()
    for said, told in PLAIN_CAUSES:
        if said.lower() in detail.lower():
            where, sep, _problem = head.rpartition(": ")
            head = f"{where}{sep}{told}"
            break
    return head, detail


def plain_lines(messages) -> tuple[str, str]:
    """Several one-line messages -> (their lines in the user's words, each library text after the
    line it belongs to: the details)."""
    heads, details = [], []
    for message in messages:
        head, detail = plain_message(message)
        heads.append(head)
        if detail:
            details.append(f"{head}\n    {detail}")
    return "\n".join(heads), "\n".join(details)
