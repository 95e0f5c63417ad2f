"""A refusal that needs no token comes before any token or PIN is asked for.

Every command here is given a ``--pkcs11-module`` that does not exist and a ``--pin-file`` that
does not exist: loading the module would fail with exit 4 ("PKCS#11 module ... does not exist")
and reading the PIN file with its own error, so a state refusal (exit 8) with its own message
proves that neither was touched. The control test shows the same command line does reach the
module when the step is allowed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.engine import Ceremony
from ceremony.errors import EXIT_STATE, StateError
from ceremony.steps import seal as steps_seal
from hsm.errors import EXIT_TOKEN
from tests.conftest import SoftHsm
from tests.support.helpers import Run, bootstrap_setup, cli, run_steps


def _no_token(tmp: Path) -> list[str]:
    """A module and a PIN file that do not exist: touching either fails loudly."""
    return ["--pkcs11-module", str(tmp / "no-such-module.so"), "--pin-file", str(tmp / "no-pin")]


def _refused(run: Run, needle: str) -> None:
    assert run.code == EXIT_STATE, run.err
    assert needle in run.err, run.err
    assert "PKCS#11 module" not in run.err and "PIN" not in run.err, run.err
    assert "insert" not in run.err, run.err  # not even asked to insert the token
    assert "Traceback" not in run.err


def _published(hsm: SoftHsm, tmp: Path) -> Ceremony:
    """A 2-of-3 rehearsal bootstrap, signed by alice and bob, published, not sealed."""
    setup = bootstrap_setup(hsm, tmp, n=3, threshold=2)
    return run_steps(hsm, tmp / "ws", setup.plan, None, ["alice", "bob"])


def _alice_keyed(hsm: SoftHsm, tmp: Path) -> Ceremony:
    """A 1-of-2 rehearsal bootstrap, initialised, alice's key made, nothing drafted."""
    setup = bootstrap_setup(hsm, tmp, n=2, threshold=1)
    c = Ceremony.init(tmp / "ws", setup.plan, None)
    c.keygen("alice", hsm.module, hsm.pin)
    return c


@pytest.fixture
def sealed(hsm: SoftHsm, tmp_path: Path) -> Ceremony:
    c = _published(hsm, tmp_path)
    steps_seal.seal(c, hsm.module, hsm.pin)
    assert c.state.sealed
    return c


# ---- a sealed workspace -------------------------------------------------------------------------

SEALED = "the ceremony is sealed"


def test_sign_on_a_sealed_workspace_is_refused_before_the_token(sealed: Ceremony,
                                                                 tmp_path: Path) -> None:
    _refused(cli("sign", sealed.ws.root, "--keyholder", "carol", *_no_token(tmp_path)), SEALED)


def test_keygen_on_a_sealed_workspace_is_refused_before_the_token(sealed: Ceremony,
                                                                  tmp_path: Path) -> None:
    _refused(cli("keygen", sealed.ws.root, "--keyholder", "carol", *_no_token(tmp_path)), SEALED)


def test_seal_by_a_keyholder_on_a_sealed_workspace_is_refused_before_the_token(
        sealed: Ceremony, tmp_path: Path) -> None:
    _refused(cli("seal", sealed.ws.root, "--keyholder", "alice", *_no_token(tmp_path)),
             "the ceremony is sealed; nothing more is recorded")


def test_seal_of_a_sealed_workspace_rewrites_the_record_without_a_token(
        sealed: Ceremony, tmp_path: Path) -> None:
    """``seal`` again only writes ``record/`` (a crash may have left it unwritten): no token."""
    report = sealed.ws.record / "report.html"
    report.unlink()
    run = cli("seal", sealed.ws.root, *_no_token(tmp_path))
    assert run.code == 0, run.err
    assert f"record written to {sealed.ws.record}" in run.out
    assert report.is_file()


def test_the_api_still_refuses_a_sealed_workspace_itself(sealed: Ceremony, hsm: SoftHsm) -> None:
    """The checks the faces call first are the steps' own: calling a step directly refuses too."""
    with pytest.raises(StateError, match=SEALED):
        sealed.sign("carol", hsm.module, hsm.pin)
    with pytest.raises(StateError, match=SEALED):
        sealed.keygen("carol", hsm.module, hsm.pin)
    with pytest.raises(StateError, match=SEALED):
        steps_seal.check_seal(sealed, "alice")
    steps_seal.check_seal(sealed)  # sealing everything again only rewrites the record


# ---- steps out of order, known without the token ------------------------------------------------


def test_sign_before_draft_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _alice_keyed(hsm, tmp_path)
    _refused(cli("sign", c.ws.root, "--keyholder", "alice", *_no_token(tmp_path)),
             "there is no draft yet")


def test_keygen_twice_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _alice_keyed(hsm, tmp_path)
    _refused(cli("keygen", c.ws.root, "--keyholder", "alice", *_no_token(tmp_path)),
             "alice already has a root key in this ceremony")


def test_keygen_of_a_stranger_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    c = Ceremony.init(tmp_path / "ws", setup.plan, None)
    run = cli("keygen", c.ws.root, "--keyholder", "mallory", *_no_token(tmp_path))
    assert run.code == 2 and "no keyholder 'mallory' in the plan" in run.err, run.err
    assert "PKCS#11 module" not in run.err


def test_sign_twice_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    c = run_steps(hsm, tmp_path / "ws", setup.plan, None, ["alice"], publish=False)
    _refused(cli("sign", c.ws.root, "--keyholder", "alice", *_no_token(tmp_path)),
             "alice has already signed root v1")


def test_sign_after_publish_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    _refused(cli("sign", c.ws.root, "--keyholder", "carol", *_no_token(tmp_path)),
             "root v1 is already published")


def test_seal_before_publish_is_refused_before_the_token(hsm: SoftHsm, tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    c = run_steps(hsm, tmp_path / "ws", setup.plan, None, ["alice"], publish=False)
    for who in (["--keyholder", "alice"], []):
        _refused(cli("seal", c.ws.root, *who, *_no_token(tmp_path)),
                 "no root has been published yet")


def test_seal_by_a_non_signer_or_twice_is_refused_before_the_token(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    _refused(cli("seal", c.ws.root, "--keyholder", "carol", *_no_token(tmp_path)),
             "carol did not sign the published root, so does not seal it")
    steps_seal.seal_sign(c, "bob", hsm.module, hsm.pin)
    _refused(cli("seal", c.ws.root, "--keyholder", "bob", *_no_token(tmp_path)),
             "bob has already sealed journal line")


def test_live_keygen_without_preflight_is_refused_before_the_token(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1, rehearsal=False)
    c = Ceremony.init(tmp_path / "ws", setup.plan, None)
    run = cli("keygen", c.ws.root, "--keyholder", "alice", *_no_token(tmp_path))
    assert run.code == EXIT_STATE, run.err
    assert "preflight" in run.err and "PKCS#11 module" not in run.err, run.err


# ---- control: an allowed step does reach the token ----------------------------------------------


def test_an_allowed_step_does_reach_the_missing_module(hsm: SoftHsm, tmp_path: Path) -> None:
    """Without a refusal the same command line fails on the module (exit 4): the tests above
    would fail if the refusal came after it."""
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    c = run_steps(hsm, tmp_path / "ws", setup.plan, None, ["alice"], publish=False)
    run = cli("sign", c.ws.root, "--keyholder", "bob",
              "--pkcs11-module", str(tmp_path / "no-such-module.so"))
    assert run.code == EXIT_TOKEN, run.err
    assert "no-such-module.so" in run.err and "does not exist" in run.err


def test_an_allowed_seal_does_reach_the_missing_module(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    run = cli("seal", c.ws.root, "--keyholder", "alice",
              "--pkcs11-module", str(tmp_path / "no-such-module.so"))
    assert run.code == EXIT_TOKEN and "does not exist" in run.err, run.err
