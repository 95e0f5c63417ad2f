"""BER-TLV as used by PIV (SP 800-73-4) and Yubico's extensions.

Tags are one or two bytes (0x7F49, 0x5FC1xx object ids are carried as values,
not tags); lengths use the short form below 0x80 and 0x81/0x82 above.
"""

from __future__ import annotations


def encode_length(n: int) -> bytes:
    """The BER length octets for ``n``."""
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82]) + n.to_bytes(2, "big")
    raise ValueError(f"length {n} too large for PIV")


def tlv(tag: int, value: bytes = b"") -> bytes:
    """One TLV; ``tag`` may be a one- or two-byte tag."""
    t = tag.to_bytes(2, "big") if tag > 0xFF else bytes([tag])
    return t + encode_length(len(value)) + value


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """All top-level TLVs in ``data``, in order.

    Raises:
        ValueError: the encoding is truncated or malformed.
    """
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:  # multi-byte tag (0x7F49, 0x5F2F, ...)
            if i >= len(data):
                raise ValueError("truncated tag")
            tag = (tag << 8) | data[i]
            i += 1
        if i >= len(data):
            raise ValueError("truncated length")
        length = data[i]
        i += 1
        if length == 0x81:
            length = data[i]
            i += 1
        elif length == 0x82:
            length = int.from_bytes(data[i:i + 2], "big")
            i += 2
        elif length > 0x82:
            raise ValueError(f"unsupported length octet {length:#x}")
        if i + length > len(data):
            raise ValueError("truncated value")
        out.append((tag, data[i:i + length]))
        i += length
    return out


def parse_dict(data: bytes) -> dict[int, bytes]:
    """Top-level TLVs as a dict (the last one wins on duplicates)."""
    return dict(parse(data))
