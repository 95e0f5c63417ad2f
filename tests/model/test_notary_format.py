"""Notary JSON, key ids and certificates, checked against bytes served by a real notary-server.

The collection is made entirely by the real ``notary`` CLI (init, tags with HTML-special and
non-ASCII names, a server-held snapshot key, an x509 delegation), then read back over HTTPS.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings, strategies as st

from ceremony.errors import VerificationError
from ceremony.formats.notary_json import (
    Signature,
    assert_reserializes,
    canonical_bytes,
    format_expiry,
    parse,
    parse_expiry,
    serialize,
)
from ceremony.formats.notary_keys import (
    canonical_key_id,
    certificates_from_entry,
    entry_key_id,
    signature_problem,
    x509_key_entry,
)
from ceremony.formats.notary_x509 import build_root_certificate, root_certificate_problems
from ceremony.online.notary import NotaryServer, fetch_metadata, fetch_server_key
from tests.support.notary_fixtures import (  # noqa: F401 - fixture_* register fixtures
    ODD_TARGET_NAMES,
    CliCollection,
    fixture_cli_collection,
    software_sign_raw,
)
from tests.support.notary_harness import NotaryStack

pytestmark = pytest.mark.notary

ROLES = ("root", "targets", "snapshot", "timestamp", "targets/releases")


def _root(collection: CliCollection) -> dict[str, Any]:
    return parse(collection.served["root"]).signed


# --------------------------------------------------------------------------- (a) bytes


@pytest.mark.parametrize("role", ROLES)
def test_serializer_reproduces_served_bytes(cli_collection: CliCollection, role: str) -> None:
    data = cli_collection.served[role]
    document = parse(data)
    assert serialize(document.signed, document.signatures) == data
    assert_reserializes(data)


def test_wire_escapes_html_but_signature_covers_raw_text(cli_collection: CliCollection) -> None:
    data = cli_collection.served["targets"]
    assert b"a\\u003cb\\u003e\\u0026c" in data
    assert b"line\\u2028sep\\u2029 \xc3\xa9" in data  # U+2028/9 escaped, é raw UTF-8
    document = parse(data)
    assert set(ODD_TARGET_NAMES) <= set(document.signed["targets"])
    assert b"a<b>&c" in document.payload
    assert "line\u2028sep\u2029 é".encode() in document.payload


@pytest.mark.parametrize("role", ROLES)
def test_every_signature_verifies_over_our_canonical_bytes(
    cli_collection: CliCollection, role: str
) -> None:
    document = parse(cli_collection.served[role])
    root = _root(cli_collection)
    if role == "targets/releases":
        delegations = parse(cli_collection.served["targets"]).signed["delegations"]
        keys = delegations["keys"]
        (spec,) = [r for r in delegations["roles"] if r["name"] == role]
    else:
        keys, spec = root["keys"], root["roles"][role]
    assert document.signatures
    for signature in document.signatures:
        assert signature.keyid in spec["keyids"]
        assert signature.method == "ecdsa" and len(signature.sig) == 64
        assert signature_problem(keys[signature.keyid], signature, document.payload) is None


# --------------------------------------------------------------------------- (b) key ids


def test_key_ids_match_the_files_and_the_cli(cli_collection: CliCollection) -> None:
    root = _root(cli_collection)
    delegation_keys = parse(cli_collection.served["targets"]).signed["delegations"]["keys"]
    for keyid, entry in {**root["keys"], **delegation_keys}.items():
        assert entry_key_id(entry) == keyid
    (root_keyid,) = root["roles"]["root"]["keyids"]
    (delegation_keyid,) = delegation_keys
    (targets_keyid,) = root["roles"]["targets"]["keyids"]
    root_canonical = canonical_key_id(root["keys"][root_keyid])
    delegation_canonical = canonical_key_id(delegation_keys[delegation_keyid])
    assert root_canonical != root_keyid and delegation_canonical != delegation_keyid
    listed = set(re.findall(r"\b[0-9a-f]{64}\b", cli_collection.key_list))
    assert {root_canonical, delegation_canonical, targets_keyid} <= listed
    on_disk = {p.stem for p in (cli_collection.trust_dir / "private").glob("*.key")}
    assert {root_canonical, delegation_canonical, targets_keyid} <= on_disk


def test_x509_entry_rebuilds_the_cli_pem_byte_for_byte(cli_collection: CliCollection) -> None:
    root = _root(cli_collection)
    (root_keyid,) = root["roles"]["root"]["keyids"]
    entry = root["keys"][root_keyid]
    assert x509_key_entry(certificates_from_entry(entry)) == entry


def test_server_keys_and_metadata_fetched_online(
    notary_stack: NotaryStack, cli_collection: CliCollection
) -> None:
    server = NotaryServer(notary_stack.url, notary_stack.ca_file)
    root = _root(cli_collection)
    for role in ("timestamp", "snapshot"):
        entry = fetch_server_key(server, cli_collection.gun, role)
        assert entry["keyval"]["private"] is None
        assert root["roles"][role]["keyids"] == [entry_key_id(entry)]
    assert fetch_metadata(server, cli_collection.gun, "root") == cli_collection.served["root"]
    first = fetch_metadata(server, cli_collection.gun, "root", version=1)
    assert first is not None and parse(first).signed["version"] == 1
    assert fetch_metadata(server, "example.com/never-initialized", "root") is None


# --------------------------------------------------------------------------- (c) certificate


def _tbs(der: bytes) -> asn1_x509.TbsCertificate:
    return asn1_x509.Certificate.load(der)["tbs_certificate"]


def test_built_certificate_has_the_cli_certificate_shape(cli_collection: CliCollection) -> None:
    root = _root(cli_collection)
    (root_keyid,) = root["roles"]["root"]["keyids"]
    (cli_cert,) = certificates_from_entry(root["keys"][root_keyid])
    key = ec.generate_private_key(ec.SECP256R1())
    ours = build_root_certificate(cli_collection.gun, key.public_key(), software_sign_raw(key))
    theirs_tbs = _tbs(cli_cert.public_bytes(serialization.Encoding.DER))
    ours_tbs = _tbs(ours.public_bytes(serialization.Encoding.DER))
    for field in ("version", "signature", "issuer", "subject", "extensions"):
        assert ours_tbs[field].dump() == theirs_tbs[field].dump(), field
    assert ours_tbs["issuer"].dump() == ours_tbs["subject"].dump()
    assert ours_tbs["subject"].chosen[0][0]["value"].name == "printable_string"
    for moment in ("not_before", "not_after"):
        assert ours_tbs["validity"][moment].name == theirs_tbs["validity"][moment].name
    for cert in (cli_cert, ours):
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650)
        assert 0 < cert.serial_number < 2**128
    assert ours.not_valid_before_utc.microsecond == 0
    assert root_certificate_problems([ours], cli_collection.gun) == []
    ours.verify_directly_issued_by(ours)


# --------------------------------------------------------------------------- negative: JSON


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"version": 1.5},
            "floating-point number 1.5 at signed.version: notary's canonical JSON allows "
            "integers only",
        ),
        (
            {"version": 2.0},
            "floating-point number 2.0 at signed.version: notary's canonical JSON allows "
            "integers only",
        ),
        (
            {"targets": {"a\nb": {}}},
            'control character U+000A in a string at signed.targets["a\\nb"]: notary cannot '
            "serialize it (its canonical JSON writes it raw and the envelope encoder then "
            "rejects the document)",
        ),
        (
            {"roles": [{"name": "x\x00"}]},
            "control character U+0000 in a string at signed.roles[0].name: notary cannot "
            "serialize it (its canonical JSON writes it raw and the envelope encoder then "
            "rejects the document)",
        ),
        (
            {"length": 2**53 + 1},
            "integer 9007199254740993 at signed.length is beyond ±2^53: notary re-reads "
            "numbers as float64 before checking signatures and would change it",
        ),
        (
            {"bad": "\ud800"},
            "string at signed.bad is not valid Unicode (it holds a lone surrogate)",
        ),
        ({1: "x"}, "object key 1 at signed is not a string"),
        ({"s": {1, 2}}, "value of type set at signed.s has no notary JSON form"),
    ],
)
def test_canonical_refuses_what_notary_cannot_write(value: object, message: str) -> None:
    with pytest.raises(VerificationError) as raised:
        canonical_bytes(value)
    assert raised.value.message == message


def test_canonical_rules() -> None:
    value = {"b": [True, False, None], "a": 'é\\"<>&\u2028', "B": b"\x00\xff", "é": -3, "_": {}}
    assert (
        canonical_bytes(value)
        == ('{"B":"AP8=","_":{},"a":"é\\\\\\"<>&\u2028","b":[true,false,null],"é":-3}').encode()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"signed":{"version":1.0},"signatures":[]}',
            "not notary metadata: the number 1.0 is not an integer (notary's canonical JSON "
            "allows integers only)",
        ),
        (
            b'{"signed":{"version":1e3},"signatures":[]}',
            "not notary metadata: the number 1e3 is not an integer (notary's canonical JSON "
            "allows integers only)",
        ),
        (b'{"signed":{"v":NaN},"signatures":[]}', "not notary metadata: NaN is not JSON"),
        (
            b'{"signed":{"a":1,"a":2},"signatures":[]}',
            "not notary metadata: the key 'a' appears twice",
        ),
        (
            b'{"signed":{},"signatures":[],"x":1}',
            "not notary metadata: expected exactly the fields signed and signatures, found "
            "['signatures', 'signed', 'x']",
        ),
        (
            b'{"signed":{},"signatures":[{"keyid":"k","method":"ecdsa","sig":"!!"}]}',
            "not notary metadata: signatures[0].sig is not valid base64",
        ),
        (b"\xff", "not notary metadata: not UTF-8 (invalid start byte)"),
    ],
)
def test_parse_refuses_with_exact_messages(data: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as raised:
        parse(data)
    assert raised.value.message == message


def test_control_character_in_parsed_file_is_refused_by_the_self_check() -> None:
    data = b'{"signed":{"_type":"Targets","x":"a\\u0007b"},"signatures":[]}'
    with pytest.raises(VerificationError) as raised:
        assert_reserializes(data)
    assert raised.value.message.startswith("control character U+0007 in a string at signed.x")


# --------------------------------------------------------------------------- negative: self-check

_TRAILER = "; every client would fail with 'sha256 checksum … did not match'"


def _variant(collection: CliCollection, role: str, edit: Any) -> bytes:
    document = parse(collection.served[role])
    signed = json.loads(json.dumps(document.signed))
    signatures = list(document.signatures)
    edit(signed, signatures)
    return serialize(signed, signatures)


def test_self_check_refuses_pretty_printed_wire(cli_collection: CliCollection) -> None:
    pretty = json.dumps(json.loads(cli_collection.served["root"]), indent=1).encode()
    with pytest.raises(VerificationError) as raised:
        assert_reserializes(pretty)
    assert raised.value.message.startswith(
        "metadata is not in notary's byte-exact form: it differs from notary's serialization "
        "at byte 1 "
    )


def test_self_check_refuses_non_go_expiry(cli_collection: CliCollection) -> None:
    def edit(signed: dict[str, Any], _: list[Signature]) -> None:
        signed["expires"] = "2036-11-20T16:37:42+00:00"

    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "root", edit))
    assert raised.value.message == (
        "metadata is not in notary's byte-exact form: signed.expires is "
        '"2036-11-20T16:37:42+00:00"; notary-server would write "2036-11-20T16:37:42Z"' + _TRAILER
    )


def test_self_check_refuses_trailing_fraction_zeros(cli_collection: CliCollection) -> None:
    def edit(signed: dict[str, Any], _: list[Signature]) -> None:
        signed["expires"] = "2036-11-20T16:37:42.500Z"

    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "targets", edit))
    assert 'notary-server would write "2036-11-20T16:37:42.5Z"' in raised.value.message


def test_self_check_refuses_missing_private_null(cli_collection: CliCollection) -> None:
    keyid = parse(cli_collection.served["root"]).signed["roles"]["root"]["keyids"][0]

    def edit(signed: dict[str, Any], _: list[Signature]) -> None:
        del signed["keys"][keyid]["keyval"]["private"]

    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "root", edit))
    path = (
        f'signed.keys["{keyid}"].keyval.private'
        if keyid[0].isdigit()
        else (f"signed.keys.{keyid}.keyval.private")
    )
    assert raised.value.message == (
        f"metadata is not in notary's byte-exact form: {path} is missing; notary-server would "
        "write null" + _TRAILER
    )


def test_self_check_refuses_upper_case_method(cli_collection: CliCollection) -> None:
    def edit(_: dict[str, Any], signatures: list[Signature]) -> None:
        signatures[0] = Signature(signatures[0].keyid, "ECDSA", signatures[0].sig)

    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "root", edit))
    assert raised.value.message == (
        "metadata is not in notary's byte-exact form: signatures[0].method is 'ECDSA'; "
        "notary-server would write 'ecdsa'" + _TRAILER
    )


def test_self_check_refuses_unknown_and_missing_fields(cli_collection: CliCollection) -> None:
    def extra(signed: dict[str, Any], _: list[Signature]) -> None:
        signed["x_note"] = "hello"

    def no_delegations(signed: dict[str, Any], _: list[Signature]) -> None:
        del signed["delegations"]

    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "root", extra))
    assert "signed.x_note is not a notary field; notary-server would drop it" in (
        raised.value.message
    )
    with pytest.raises(VerificationError) as raised:
        assert_reserializes(_variant(cli_collection, "targets", no_delegations))
    assert (
        'signed.delegations is missing; notary-server would write {"keys":null,"roles":null}'
        in raised.value.message
    )


def test_self_check_refuses_signatures_null(cli_collection: CliCollection) -> None:
    data = cli_collection.served["root"]
    tampered = data[: data.index(b',"signatures":')] + b',"signatures":null}'
    with pytest.raises(VerificationError) as raised:
        assert_reserializes(tampered)
    assert raised.value.message == "not notary metadata: signatures must be a list"


# --------------------------------------------------------------------------- expiry


def test_format_expiry_is_go_rfc3339nano_utc() -> None:
    assert format_expiry(datetime(2029, 11, 22, 16, 37, 41, 750500, UTC)) == (
        "2029-11-22T16:37:41.7505Z"
    )
    assert format_expiry(datetime(2036, 11, 20, 16, 37, 42, tzinfo=UTC)) == "2036-11-20T16:37:42Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_expiry(datetime(2030, 1, 1, 1, 0, 0, 10, plus_two)) == (
        "2029-12-31T23:00:00.00001Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        format_expiry(datetime(2030, 1, 1))  # noqa: DTZ001 - the naive case is the test


def test_parse_expiry_reads_nanoseconds_like_go() -> None:
    assert parse_expiry("2029-11-22T16:37:41.750506618Z") == datetime(
        2029, 11, 22, 16, 37, 41, 750506, UTC
    )
    assert parse_expiry("2030-01-01T02:00:00+02:00") == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(VerificationError) as raised:
        parse_expiry("2030-02-30T00:00:00Z")
    assert raised.value.message == "expires '2030-02-30T00:00:00Z' is not an RFC 3339 date-time"


# --------------------------------------------------------------------------- properties

_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=12
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(derandomize=True, database=None, max_examples=120, deadline=None)
@given(signed=st.dictionaries(_TEXT, _JSON, max_size=5), keyid=_TEXT, sig=st.binary(max_size=80))
def test_serialize_parse_round_trip(signed: dict[str, Any], keyid: str, sig: bytes) -> None:
    data = serialize(signed, [Signature(keyid, "ecdsa", sig)])
    assert b"<" not in data and b">" not in data and b"&" not in data
    assert "\u2028".encode() not in data and "\u2029".encode() not in data
    document = parse(data)
    assert document.signed == signed
    assert document.payload == canonical_bytes(signed)
    assert serialize(document.signed, document.signatures) == data
    assert base64.b64decode(json.loads(data)["signatures"][0]["sig"]) == sig
