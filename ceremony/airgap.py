"""The air gap, asked of the kernel: which network interfaces are up, which default routes exist.

Split from :mod:`ceremony.preflight` (the whole machine survey, journaled once per sitting)
because every token step of a live ceremony asks again, right before it touches a token
(:func:`require_preflight`): a cable plugged in after the preflight must still stop the
step. This module is that re-check and the readers it shares with the survey; it loads
nothing but the standard library's ``socket``/``fcntl``/``struct``, so a keyholder step
does not pay for the survey's probes (the tool digest, the library versions, the clock).
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.errors import PreflightError
from ceremony.frozen import frozen

if TYPE_CHECKING:  # a top import would be a cycle: ceremony.session imports this module
    from ceremony.session import Session

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
ARPHRD_LOOPBACK = 772
RTF_REJECT = 0x0200
SIOCGIFFLAGS = 0x8913  # linux/sockios.h


@frozen
class Interface:
    """One network interface as the kernel reports it."""

    name: str
    operstate: str
    flags: int
    wireless: bool

    @property
    def up(self) -> bool:
        """Administratively up, or carrier up (either can carry traffic)."""
        return bool(self.flags & IFF_UP) or self.operstate == "up"


@frozen
class Route:
    """A default route (IPv4 or IPv6) that is not a reject route."""

    family: str
    interface: str
    gateway: str


def read_sys_file(path: Path) -> str | None:
    """A small text file of ``/sys`` or ``/proc``, stripped; None when it cannot be read."""
    try:
        return path.read_bytes().decode("ascii", "replace").strip()  # no codec module to load
    except OSError:
        return None


def sys_class(sys_root: Path, name: str) -> list[Path]:
    """The devices of ``<sys_root>/class/<name>``, sorted; none when the folder cannot be read."""
    try:
        return sorted((Path(sys_root) / "class" / name).iterdir())
    except OSError:
        return []


def read_interfaces(sys_root: Path = Path("/sys")) -> list[Interface]:
    """Network interfaces from ``<sys_root>/class/net``, loopback excluded.

    Loopback is recognised by the kernel's flag or link type, never by name, so
    an interface renamed ``lo0`` cannot hide behind it.
    """
    out = []
    for d in sys_class(sys_root, "net"):
        flags_text = read_sys_file(d / "flags") or "0"
        try:
            flags = int(flags_text, 16)
        except ValueError:
            flags = 0
        kind = read_sys_file(d / "type")
        if flags & IFF_LOOPBACK or kind == str(ARPHRD_LOOPBACK):
            continue
        out.append(Interface(d.name, read_sys_file(d / "operstate") or "unknown", flags,
                             (d / "wireless").exists() or (d / "phy80211").exists()))
    return out


def read_routes(proc_root: Path = Path("/proc")) -> list[Route]:
    """Default routes from ``<proc_root>/net/route`` and ``net/ipv6_route``.

    Reject routes (the kernel's ``unreachable`` defaults on loopback) route nothing
    and are ignored.
    """
    out: list[Route] = []
    v4 = read_sys_file(Path(proc_root) / "net" / "route")
    for line in (v4 or "").splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        iface, dest, gateway, flags, mask = cols[0], cols[1], cols[2], cols[3], cols[7]
        try:
            if int(flags, 16) & RTF_REJECT:
                continue
            gw = ".".join(str(b) for b in reversed(bytes.fromhex(gateway)))
        except ValueError:
            continue
        if dest == "00000000" and mask == "00000000":
            out.append(Route("ipv4", iface, gw))
    v6 = read_sys_file(Path(proc_root) / "net" / "ipv6_route")
    for line in (v6 or "").splitlines():
        cols = line.split()
        if len(cols) < 10:
            continue
        dest, plen, nexthop, flags, iface = cols[0], cols[1], cols[4], cols[8], cols[9]
        try:
            if int(flags, 16) & RTF_REJECT:
                continue
        except ValueError:
            continue
        if int(dest, 16) == 0 and plen == "00" and iface != "lo":
            gw = ":".join(nexthop[i:i + 4] for i in range(0, 32, 4))
            out.append(Route("ipv6", iface, gw))
    return out


def require_preflight(c: Session) -> None:
    """Refuse a token step of a live ceremony unless the last preflight passed and the
    machine is still off the network now.

    Called before every token step (keygen, sign, publish, seal; the TUI's screens too). The
    journaled preflight alone is not enough: it may have passed in another network namespace
    or before a cable was plugged in, so the interfaces and default routes are asked again
    (:func:`network_up_now`). Rehearsals are not refused (their preflight warned).

    Raises:
        PreflightError: no preflight yet, the last one failed, or a network is up now.
    """
    pf = c.state.preflight
    if c.plan.rehearsal:
        return
    if pf is None:
        raise PreflightError("no preflight has been recorded for this ceremony",
                             hint="run `ceremony preflight WORKSPACE` first")
    if not pf.get("passed"):
        raise PreflightError("the last preflight refused the ceremony",
                             hint="fix what it names and run `ceremony preflight WORKSPACE` again")
    network = network_up_now(pf.get("probes"))
    if network:
        raise PreflightError(
            "the air gap is open now: " + "; ".join(network) + ". A live ceremony's token "
            "steps re-check the network when they run; nothing was done",
            hint="disconnect the network (ip link set DEV down, rfkill block all) in this "
                 "session, then run the step again")


def interfaces_up_now() -> list[str]:
    """Network interfaces (loopback excepted) that are up in *this process's* namespace.

    Asked of the kernel through the process's own sockets (``if_nameindex`` and
    ``SIOCGIFFLAGS``), not read from ``/sys``: sysfs shows the namespace it was mounted in, so
    a preflight run in another namespace (``unshare -n``) could see another machine. Cheap
    enough to run before every token step. An interface list that cannot be read counts as
    a network up (fail closed).
    """
    try:
        names = [name for _, name in socket.if_nameindex()]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as e:
        return [f"(cannot list the network interfaces: {e.strerror or e})"]
    up = []
    with sock:
        for name in names:
            request = struct.pack("16sH22x", name.encode()[:15], 0)
            try:
                reply = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request)
            except OSError:
                continue  # gone since it was listed
            flags = struct.unpack_from("16sH", reply)[1]
            if flags & IFF_UP and not flags & IFF_LOOPBACK:
                up.append(name)
    return up


def network_up_now(probes: dict[str, str] | None = None) -> list[str]:
    """What connects this process to a network now: interfaces up, default routes.

    ``probes``: the roots a preflight read instead of this machine (``{"sys_root", "proc_root"}``
    from its journal entry; tests and the hidden ``--sys-root`` options). The same files are
    read again then, so the re-check judges the machine the preflight judged; the journal
    shows such a preflight for what it is.
    """
    if probes:
        names = [i.name for i in read_interfaces(Path(probes["sys_root"])) if i.up]
        routes = read_routes(Path(probes["proc_root"]))
    else:
        names = interfaces_up_now()
        routes = read_routes(Path("/proc"))  # /proc/net is the reading process's namespace
    out = []
    if names:
        out.append("interface up: " + ", ".join(names))
    if routes:
        out.append("default route: " + ", ".join(f"{r.family} via {r.interface}" for r in routes))
    return out
