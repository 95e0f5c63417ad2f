"""Core benchmarks: signing cost through the tool's Signer, a rehearsal, CLI cold start.

Run: ``.venv/bin/python bench/bench_core.py`` (or ``make bench`` for every benchmark).
All rows of one table are measured side by side in one run, so ratios are meaningful;
absolute numbers on a shared 2-core machine move by +-30 %.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hsm import softhsm  # noqa: E402

PIN = "bench-pin-1234"
N_SIGN = 1000


def _table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)))


def bench_signing(tmp: Path) -> None:
    import pkcs11
    from securesystemslib.signer import HSMSigner

    from ceremony.keys import key_from_crypto
    from hsm.pkcs11 import get_module, resolve_module_path
    from hsm.signer import TokenSigner

    d = softhsm.create(tmp / "sign")
    softhsm.activate(d)
    softhsm.init_token(d, "bench", PIN)
    module_path = resolve_module_path(env={})
    module = get_module(module_path)
    module.refresh()
    token = module.find_token(label="bench")
    tk = module.generate(token, lambda i: PIN, "ecdsa-p256", "bench-key", b"\x02")
    key = key_from_crypto(tk.public_key())
    signer = TokenSigner(tk, key)
    payload = os.urandom(3000)
    priv = tk._private

    def raw() -> None:
        priv.sign(hashlib.sha256(payload).digest(), mechanism=pkcs11.Mechanism.ECDSA)

    def ours() -> None:
        signer.sign(payload)

    def ours_noverify() -> None:
        tk.sign_raw(payload, verify=False)

    results = {}
    # interleave rounds so drift and noise hit every path alike
    rounds = 5
    samples: dict[str, list[float]] = {"raw": [], "ours": [], "ours_noverify": []}
    for _ in range(rounds):
        for name, fn in (("raw", raw), ("ours", ours), ("ours_noverify", ours_noverify)):
            t0 = time.perf_counter()
            for _ in range(N_SIGN // rounds):
                fn()
            samples[name].append((time.perf_counter() - t0) / (N_SIGN // rounds))
    for name, vals in samples.items():
        results[name] = statistics.median(vals)

    # securesystemslib's HSMSigner logs in per signature; it cannot share the token with
    # our logged-in session (UserAlreadyLoggedIn), so log out first.
    module.close()
    os.environ["PYKCS11LIB"] = module_path
    hsm_signer = HSMSigner.from_priv_key_uri("hsm:2?label=bench", key, lambda s: PIN)
    n_hsm = 100
    t0 = time.perf_counter()
    for _ in range(n_hsm):
        hsm_signer.sign(payload)
    results["hsmsigner"] = (time.perf_counter() - t0) / n_hsm

    base = results["raw"]
    rows = [
        ("python-pkcs11 raw C_Sign (sha256 + CKM_ECDSA)", f"{base * 1e3:.3f}", "1.00x"),
        ("TokenSigner.sign (sign + verify + DER)", f"{results['ours'] * 1e3:.3f}",
         f"{results['ours'] / base:.2f}x"),
        ("TokenKey.sign_raw without the verify", f"{results['ours_noverify'] * 1e3:.3f}",
         f"{results['ours_noverify'] / base:.2f}x"),
        (f"securesystemslib HSMSigner ({n_hsm} sigs)", f"{results['hsmsigner'] * 1e3:.3f}",
         f"{results['hsmsigner'] / base:.2f}x"),
    ]
    _table(f"Signing one 3 KB payload on SoftHSM ECDSA P-256 ({N_SIGN} signatures, median of "
           f"{rounds} interleaved rounds)", rows, ("path", "ms/sig", "vs raw"))


def bench_rehearse(tmp: Path) -> None:
    env = dict(os.environ)
    walls = []
    for i in range(3):
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / ".venv/bin/ceremony"), "rehearse", str(tmp / f"r{i}/ws"),
                        "--softhsm-dir", str(tmp / f"r{i}/hsm"), "--keyholders", "5",
                        "--threshold", "3"], check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - t0)
    t = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / ".venv/bin/ceremony"), "--help"], check=True,
                       capture_output=True)
        t.append(time.perf_counter() - t0)
    _table("Whole commands (wall, separate processes)", [
        ("ceremony rehearse, 5 keyholders, 3-of-5 (median of 3)", f"{statistics.median(walls):.3f}",
         "2.0"),
        ("ceremony --help cold start (median of 10)", f"{statistics.median(t):.3f}", "0.25"),
    ], ("command", "seconds", "target"))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ceremony-bench-") as tmp:
        bench_signing(Path(tmp))
        bench_rehearse(Path(tmp))


if __name__ == "__main__":
    main()
