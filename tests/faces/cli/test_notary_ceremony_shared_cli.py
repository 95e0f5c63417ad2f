"""The shared commands (draft, verify) speak Notary through the same CLI as TUF."""

from tests.engine.test_notary_ceremony_offline import GUN, online_keys, write_plan
from tests.support.helpers import cli
from tests.support.notary_fixtures import no_network, ok


def test_draft_and_verify_speak_notary(hsm, tmp_path):
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws = tmp_path / "ws"
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        ok(cli("init", ws, "--plan", write_plan(tmp_path, "v1", keys, targets)))
        ok(cli("keygen", ws, "--keyholder", "alice", *pin))
        draft = ok(cli("draft", ws))
        assert f"notary root version 1 for {GUN}, expires " in draft.out
        assert "  root: 1 of 1 (alice (certificate until " in draft.out
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        ok(cli("publish", ws))
        meta = ws / "metadata"
        assert '"newest": 1' in ok(cli("verify", "--trusted", meta / "1.root.json", meta, "--json")).out
        # root.json, the file a notary client fetches, must be the newest root byte for byte
        assert "root.json: the newest root (1.root.json), byte for byte" in \
            ok(cli("verify", "--trusted", meta / "1.root.json", meta)).out
        (meta / "root.json").write_bytes(b"")
        r = cli("verify", "--trusted", meta / "1.root.json", meta)
        assert r.code == 3 and f"error: {meta / 'root.json'} is empty: a client fetching " \
            "root.json gets no root, it must be a copy of 1.root.json" in r.err
        (meta / "root.json").write_bytes((meta / "1.root.json").read_bytes() + b"\n")
        r = cli("verify", "--trusted", meta / "1.root.json", meta)
        assert r.code == 3 and "differs from 1.root.json although both say v1" in r.err
    from ceremony.cli import build_parser
    assert "notary" in build_parser().format_help()
