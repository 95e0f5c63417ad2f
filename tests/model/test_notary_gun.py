"""Our GUN rule against the real thing: every verdict of ``gun_problem`` is what notary does.

For each GUN the real CLI initializes and publishes the collection, and a fresh trust dir
lists it. ``gun_problem`` must accept exactly the GUNs for which both work; for accepted GUNs,
our online client must reach the same URL the CLI used (the served root equals the CLI's cache).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.formats.notary_x509 import gun_problem
from ceremony.online.notary import NotaryServer, fetch_metadata
from tests.support.notary_harness import NotaryStack

pytestmark = pytest.mark.notary

GUNS = [
    "example.com/app",
    "docker.io/library/alpine",
    "x_y/Z",
    "a b/c",
    "héllo",
    "line\u2028sep",
    "a\\b",
    'a"b',
    "a<b>",
    "a;b",
    "a..b",
    "a~!$&'()+,;=@b",
    "x" * 255,
    "x" * 256,
    "a%20b",
    "a#b",
    "a?b",
    "a*b",
    "a\tb",
    "a\x7fb",
    "/a",
    "a/",
    "a//b",
    "a/./b",
    "a/../b",
    "..",
]


@pytest.mark.parametrize("gun", GUNS, ids=lambda gun: repr(gun)[:40])
def test_gun_rule_matches_the_real_client(
    notary_stack: NotaryStack, tmp_path: Path, gun: str
) -> None:
    init = notary_stack.notary(tmp_path / "publisher", "init", gun, "--publish")
    listed = notary_stack.notary(tmp_path / "fresh", "list", gun)
    notary_accepts = init.rc == 0 and listed.rc == 0 and "No targets present" in listed.stdout
    assert (gun_problem(gun) is None) == notary_accepts, (gun_problem(gun), init, listed)
    if notary_accepts:
        cached = (tmp_path / "fresh" / "tuf" / gun / "metadata" / "root.json").read_bytes()
        server = NotaryServer(notary_stack.url, notary_stack.ca_file)
        assert fetch_metadata(server, gun, "root") == cached
