"""Fake machines for preflight: a /sys and /proc tree of files (not mocks) and fixed probes.

Shared by the preflight, record, compare, TUI and runbook tests: a fixed clock, host name and
package root make everything the preflight reports deterministic (the TUI snapshots show it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ceremony.preflight import Probes

CLOCK = datetime(2031, 5, 4, 12, 0, 0, tzinfo=UTC)


def fake_machine(root: Path, *, up: tuple[str, ...] = (), down: tuple[str, ...] = ("eth0",),
                 wireless: tuple[str, ...] = (), routes4: tuple[str, ...] = (),
                 routes6: tuple[str, ...] = (), radios: dict[str, bool] | None = None,
                 clock: datetime = CLOCK) -> Probes:
    """A /sys + /proc tree: loopback always, interfaces ``up``/``down``, default routes via
    the named interfaces, rfkill radios (name -> blocked)."""
    sys_root, proc_root = root / "sys", root / "proc"
    net = sys_root / "class" / "net"

    def iface(name: str, state: str, flags: int, kind: int = 1) -> None:
        d = net / name
        d.mkdir(parents=True)
        (d / "operstate").write_text(state + "\n")
        (d / "flags").write_text(f"{flags:#x}\n")
        (d / "type").write_text(f"{kind}\n")
        if name in wireless:
            (d / "wireless").mkdir()

    iface("lo", "unknown", 0x9, 772)
    for name in up:
        iface(name, "up", 0x1003)
    for name in (n for n in down if n not in up):
        iface(name, "down", 0x1002)
    (proc_root / "net").mkdir(parents=True)
    v4 = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
    v4 += [f"{i}\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0" for i in routes4]
    v4.append("eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0")
    (proc_root / "net" / "route").write_text("\n".join(v4) + "\n")
    zero = "0" * 32
    v6 = [f"{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo"]
    v6 += [f"{zero} 00 {zero} 00 fd{'0' * 29}1 00000400 00000002 00000000 00000003 {i}"
           for i in routes6]
    (proc_root / "net" / "ipv6_route").write_text("\n".join(v6) + "\n")
    (proc_root / "sys" / "kernel" / "random").mkdir(parents=True)
    (proc_root / "sys" / "kernel" / "random" / "boot_id").write_text("fake-boot-id\n")
    for i, (name, blocked) in enumerate((radios or {}).items()):
        d = sys_root / "class" / "rfkill" / f"rfkill{i}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "type").write_text("wlan\n")
        (d / "soft").write_text("1\n" if blocked else "0\n")
        (d / "hard").write_text("0\n")
    pkg = root / "pkg" / "ceremony"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""fixed package for stable digests"""\n')
    return Probes(sys_root, proc_root, clock=lambda: clock, roots=[pkg], hostname="ceremony-laptop")
