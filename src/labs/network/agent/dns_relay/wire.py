"""DNS messages as the relay reads them: only the header and the one question, as
bytes (the relay passes everything else through unparsed)."""

from __future__ import annotations

HEADER = 12  # bytes of a DNS header
FORMERR = 1
SERVFAIL = 2
REFUSED = 5


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


def question(message: bytes) -> tuple[bytes, tuple[int, ...]] | None:
    """The one question of `message` as it is on the wire (its name lower case, then
    QTYPE and QCLASS) and where each label of the name starts in it; None when the
    message has not exactly one question in plain form."""
    if len(message) < HEADER or message[4:6] != b"\x00\x01":
        return None
    at, size, starts = HEADER, len(message), []
    while at < size:
        length = message[at]
        if not length:
            break
        if length & 0xC0:  # a compression pointer has no place in a question
            return None
        starts.append(at - HEADER)
        at += 1 + length
    if at + 5 > size:
        return None
    return message[HEADER:at + 1].lower() + message[at + 1:at + 5], tuple(starts)


def domain_wire(domain: str) -> bytes:
    """``Labs.Internal.`` as the name is on the wire, lower case
    (``b"\\x04labs\\x08internal\\x00"``)."""
    labels = [label.encode().lower() for label in domain.strip().rstrip(".").split(".")
              if label]
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def same_question(asked: bytes, answer: bytes) -> bool:
    """Whether `answer` carries the question `asked` (as `question` gives it; names
    compared without regard to case, as DNS compares them)."""
    if answer[4:6] != b"\x00\x01" or len(answer) < HEADER + len(asked):
        return False
    name = len(asked) - 4
    got = answer[HEADER:HEADER + len(asked)]
    return got[:name].lower() == asked[:name] and got[name:] == asked[name:]


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
