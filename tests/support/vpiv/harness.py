"""Real pcscd + vsmartcard's vpcd in a private network namespace, for virtual cards.

Why a namespace: vpcd listens on *all* interfaces (0.0.0.0:35963/35964), and a
test must never open a port on the machine's network. pcscd therefore runs
inside a fresh network namespace that only has a loopback interface, and the
card connects from a thread that joined that namespace (:mod:`tests.support.vpiv.vpcd`).

Why a private mount namespace too: Debian's pcscd hard-codes its socket and pid
file under ``/run/pcscd``. pcscd gets its own tmpfs ``/run`` with a bind mount of
a test directory on ``/run/pcscd``, so it never meets (or blocks) a system pcscd
or another test run; clients find it through ``PCSCLITE_CSOCK_NAME``, which
libpcsclite reads once per process.

Reader names contain "Yubico YubiKey" because ykcs11 and ykman only talk to
readers whose name says so. A missing pcscd, vpcd driver or namespace support
is a failure with an install hint, never a skip: hardware coverage must not
vanish silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.vpcd import CardSlot

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
YKCS11 = "/usr/lib/x86_64-linux-gnu/libykcs11.so"
FRIENDLY_NAME = "Yubico YubiKey OTP+FIDO+CCID (vpiv)"
BASE_PORT = 0x8C7B  # vpcd serves two slots per reader: this port and the next
INSTALL_HINT = "apt-get install pcscd vsmartcard-vpcd ykcs11 iproute2 util-linux (and run as root)"


class HarnessError(RuntimeError):
    """The virtual-card plumbing cannot run here; the message says what is missing."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise HarnessError(f"virtual YubiKey harness: {what}; install with: {INSTALL_HINT}")


class PcscHarness:
    """pcscd with two vpcd reader slots, in a private network and mount namespace."""

    def __init__(self, workdir: Path, debug: bool = False) -> None:
        self.workdir = workdir
        self.debug = debug  # pcscd -d -a: every APDU in pcscd.log
        self.netns = f"vpiv-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rundir = workdir / "run"
        self.confdir = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.socket_path = self.rundir / "pcscd.comm"
        self.slots: list[CardSlot] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._netns_created = False

    # ---- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Create the namespace, start pcscd, point this process's PC/SC client at it.

        Raises:
            HarnessError: a prerequisite is missing or pcscd did not come up.
        """
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd") else None)
        _require(pcscd is not None, "pcscd is not installed")
        _require(os.path.exists(VPCD_DRIVER), f"the vpcd driver {VPCD_DRIVER} is missing")
        _require(shutil.which("ip") is not None, "iproute2 (ip) is not installed")
        _require(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
        _require(os.geteuid() == 0, "network namespaces need root")
        current = os.environ.get("PCSCLITE_CSOCK_NAME")
        _require(current is None or current == str(self.socket_path) or "vpiv" in current,
                 "PCSCLITE_CSOCK_NAME already points elsewhere in this process")

        self.rundir.mkdir(parents=True, exist_ok=True)
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.confdir / "vpiv").write_text(
            f'FRIENDLYNAME "{FRIENDLY_NAME}"\n'
            f"DEVICENAME   /dev/null:{BASE_PORT:#06x}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {BASE_PORT:#06x}\n")

        self._run("ip", "netns", "add", self.netns)
        self._netns_created = True
        self._run("ip", "-n", self.netns, "link", "set", "lo", "up")
        script = (f"mount -t tmpfs tmpfs /run && mkdir -p /run/pcscd && "
                  f"mount --bind {self.rundir} /run/pcscd && exec {pcscd} -f {'-d -a ' if self.debug else ''}"
                  f"-c {self.confdir}")
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as pcscd
        self._proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self._wait(lambda: self.socket_path.exists(), 10, "pcscd did not create its socket")
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)

        netns_path = f"/run/netns/{self.netns}"
        self.slots = [CardSlot(netns_path, BASE_PORT + i, f"{FRIENDLY_NAME} 00 {i:02d}") for i in range(2)]
        self._wait(lambda: set(s.reader_name for s in self.slots) <= set(self.readers()), 10,
                   "pcscd does not list the vpcd readers (is PCSCLITE_CSOCK_NAME read too late?)")

    def stop(self) -> None:
        """Pull every card, stop pcscd (by its pid), delete the namespace."""
        for slot in self.slots:
            slot.remove()
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._netns_created:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, capture_output=True)
            self._netns_created = False

    # ---- cards -------------------------------------------------------------------------

    def insert(self, card: VirtualYubiKey, slot: int = 0, wait: bool = True) -> CardSlot:
        """Put ``card`` into reader slot ``slot`` and wait until pcscd sees it."""
        s = self.slots[slot]
        s.insert(card)
        if wait:
            self.wait_present(s.reader_name, True)
        return s

    def remove(self, slot: int = 0, wait: bool = True) -> None:
        """Pull the card from reader slot ``slot`` and wait until pcscd notices."""
        s = self.slots[slot]
        s.remove()
        if wait:
            self.wait_present(s.reader_name, False)

    def remove_all(self) -> None:
        for i, s in enumerate(self.slots):
            if s.inserted or s.card is not None:
                self.remove(i)
                s.card = None

    def readers(self) -> list[str]:
        from smartcard.System import readers
        try:
            return [str(r) for r in readers()]
        except Exception:  # noqa: BLE001 - pcscd not up yet
            return []

    def wait_present(self, reader: str, present: bool, timeout: float = 5.0) -> None:
        """Block until pcscd reports a card in ``reader`` (or none).

        Raises:
            HarnessError: pcscd did not notice in time.
        """
        from smartcard import scard

        def state() -> bool:
            hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hr != scard.SCARD_S_SUCCESS:
                return not present
            try:
                hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
                if hr != scard.SCARD_S_SUCCESS:
                    return not present
                return bool(states[0][1] & scard.SCARD_STATE_PRESENT) == present
            finally:
                scard.SCardReleaseContext(ctx)

        self._wait(state, timeout, f"pcscd did not see the card {'arrive in' if present else 'leave'} {reader}")

    # ---- helpers -----------------------------------------------------------------------

    def _wait(self, cond: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(cond) and cond():
                return
            if self._proc is not None and self._proc.poll() is not None:
                break
            time.sleep(0.02)
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        raise HarnessError(f"virtual YubiKey harness: {what}\n--- pcscd log ---\n{log}")

    @staticmethod
    def _run(*cmd: str) -> None:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise HarnessError(f"virtual YubiKey harness: {' '.join(cmd)} failed: {r.stderr.strip()}")
