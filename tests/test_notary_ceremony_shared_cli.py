"""The shared commands (draft, verify) speak Notary through the same CLI as TUF."""

from notary_fixtures import no_network, ok
from test_notary_ceremony_offline import GUN, online_keys, write_plan

from tests.helpers import cli


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
    from ceremony.cli import build_parser
    assert "notary" in build_parser().format_help()
