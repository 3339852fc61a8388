"""GitHub-style global node ids and pagination cursors.

GitHub's current node ids are a type prefix plus the URL-safe base64 of a
small MessagePack array: ``PR_kwDO...`` is ``PR_`` + b64(msgpack([0,
repository_id, pull_request_id])), ``U_kgDO...`` is ``U_`` + b64(msgpack([0,
user_id])). We produce the same shape (so ids look and decode like the real
ones) with a tiny MessagePack encoder for unsigned integers.
"""

from __future__ import annotations

import base64
import json
import struct

# Type prefixes of GitHub's "next" global ids, and the GraphQL type each names.
PREFIX_TYPES = {
    "U": "User",
    "O": "Organization",
    "R": "Repository",
    "PR": "PullRequest",
    "PRR": "PullRequestReview",
    "PRRC": "PullRequestReviewComment",
    "C": "Commit",
}


def _pack_uint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value <= 0xFF:
        return b"\xcc" + bytes((value,))
    if value <= 0xFFFF:
        return b"\xcd" + struct.pack(">H", value)
    if value <= 0xFFFFFFFF:
        # GitHub always encodes ids with at least 32 bits, hence "kgDO".
        return b"\xce" + struct.pack(">I", value)
    return b"\xcf" + struct.pack(">Q", value)


def _pack_id(value: int) -> bytes:
    if value <= 0xFFFFFFFF:
        return b"\xce" + struct.pack(">I", value)
    return b"\xcf" + struct.pack(">Q", value)


def node_id(prefix: str, *ids: int) -> str:
    """Encode a global node id, e.g. ``node_id("PR", repo_id, pr_id)``."""
    payload = bytes((0x90 | (len(ids) + 1),)) + _pack_uint(0)
    payload += b"".join(_pack_id(i) for i in ids)
    return f"{prefix}_" + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def legacy_node_id(type_name: str, database_id: int) -> str:
    """The pre-2021 id format still used for some old objects (the ghost user)."""
    raw = f"0{len(type_name)}:{type_name}{database_id}"
    return base64.b64encode(raw.encode()).decode()


def decode_node_id(value: str) -> tuple[str, list[int]] | None:
    """Return ``(type_name, ids)`` for an id we issued, else None."""
    prefix, sep, encoded = value.partition("_")
    type_name = PREFIX_TYPES.get(prefix)
    if not sep or type_name is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError):
        return None
    if not raw or raw[0] & 0xF0 != 0x90:
        return None
    count = raw[0] & 0x0F
    pos, ints = 1, []
    try:
        for _ in range(count):
            tag = raw[pos]
            if tag < 0x80:
                ints.append(tag)
                pos += 1
            elif tag == 0xCC:
                ints.append(raw[pos + 1])
                pos += 2
            elif tag == 0xCD:
                ints.append(struct.unpack_from(">H", raw, pos + 1)[0])
                pos += 3
            elif tag == 0xCE:
                ints.append(struct.unpack_from(">I", raw, pos + 1)[0])
                pos += 5
            elif tag == 0xCF:
                ints.append(struct.unpack_from(">Q", raw, pos + 1)[0])
                pos += 9
            else:
                return None
    except (IndexError, struct.error):
        return None
    if pos != len(raw) or not ints or ints[0] != 0:
        return None
    return type_name, ints[1:]


class InvalidCursor(ValueError):
    pass


def keyset_cursor(field: str, key: tuple) -> str:
    """Cursor for keyset pagination: the sort field and the item's sort key.

    GitHub's cursors are opaque base64 of ``cursor:v2:`` + packed sort
    values; what matters to clients is that they are opaque and that
    ``after`` means "strictly after this sort position", not "after offset N".
    """
    raw = "cursor:v2:" + json.dumps([field, *key], separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_keyset_cursor(cursor: str, field: str, arity: int = 2) -> tuple:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        if not raw.startswith("cursor:v2:"):
            raise ValueError
        values = json.loads(raw[len("cursor:v2:") :])
    except (ValueError, UnicodeError) as exc:
        raise InvalidCursor(cursor) from exc
    if (
        not isinstance(values, list)
        or len(values) != arity + 1
        or values[0] != field
        or not all(isinstance(v, int) for v in values[1:])
    ):
        raise InvalidCursor(cursor)
    return tuple(values[1:])


def offset_cursor(index: int) -> str:
    """Cursor of GitHub's offset-based connections: b64("cursor:<1-based n>")."""
    return base64.b64encode(f"cursor:{index + 1}".encode()).decode()


def decode_offset_cursor(cursor: str) -> int:
    """Return the 0-based index the cursor points at."""
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "cursor" or not number.isdigit():
            raise ValueError
    except (ValueError, UnicodeError) as exc:
        raise InvalidCursor(cursor) from exc
    return int(number) - 1
