"""DNS messages as the relay reads them: only the header and the one question, as
bytes (the relay passes everything else through unparsed)."""

from __future__ import annotations

HEADER = 12  # bytes of a DNS header
FORMERR = 1
SERVFAIL = 2
REFUSED = 5


def rcode(message: bytes) -> int:
    return message[3] & 0x0F


def question_end(message: bytes) -> int | None:
    """Where the one question of `message` ends; None when it has not exactly one
    question in plain form."""
    if len(message) < HEADER or int.from_bytes(message[4:6], "big") != 1:
        return None
    end = HEADER
    while end < len(message) and message[end] != 0:
        if message[end] & 0xC0:  # a compression pointer has no place in a question
            return None
        end += 1 + message[end]
    end += 5  # the root label, QTYPE and QCLASS
    return end if end <= len(message) else None


def question_name(query: bytes) -> tuple[bytes, ...] | None:
    """The labels of the query's name, lower case; None when it cannot be read."""
    end = question_end(query)
    if end is None:
        return None
    labels, at = [], HEADER
    while query[at]:
        labels.append(query[at + 1:at + 1 + query[at]].lower())
        at += 1 + query[at]
    return tuple(labels)


def domain_labels(domain: str) -> tuple[bytes, ...]:
    """``Labs.Internal.`` as (b"labs", b"internal")."""
    return tuple(label.encode().lower() for label in domain.strip().rstrip(".").split(".")
                 if label)


def same_question(query: bytes, answer: bytes) -> bool:
    """Whether `answer` carries the question of `query` (names compared as DNS does,
    without regard to case)."""
    end = question_end(query)
    return end is not None and answer[4:6] == b"\x00\x01" and \
        answer[HEADER:end].lower() == query[HEADER:end].lower()


def reply(query: bytes, code: int) -> bytes | None:
    """The response to `query` with rcode `code` (its id, flags and question); None
    when the query is not one question in plain form."""
    end = question_end(query)
    if end is None:
        return None
    flags = bytes([0x80 | (query[2] & 0x79), 0x80 | code])  # QR, opcode, RD; RA
    return query[:2] + flags + b"\x00\x01" + bytes(6) + query[HEADER:end]


def servfail(query: bytes) -> bytes | None:
    return reply(query, SERVFAIL)


def formerr(query: bytes) -> bytes:
    """FORMERR from the bare header (the question could not be read)."""
    flags = bytes([0x80 | (query[2] & 0x79), 0x80 | FORMERR])
    return query[:2] + flags + bytes(8)
