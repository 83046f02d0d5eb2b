"""Registry benchmark: import 10,000 rows; text matching with 5,000 patients; face matching against 5,000 encodings.

Run: .venv/bin/python bench/bench_registry.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"


def main() -> None:
    home = Path(tempfile.mkdtemp())
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    from scanner.crypto import Vault
    from scanner.registry import FaceRecord, Registry
    from scanner.store import Store

    rows = "".join(f"P{i:05d},Firstname{i} Lastname{i},Nick{i} L.,@handle{i},testimonial;name_in_marketing,all,"
                   f"2024-01-01,2099-01-01,,\n" for i in range(10_000))
    csv = home / "big.csv"
    csv.write_text(HEADER + rows)
    store = Store()
    t = time.perf_counter()
    Registry.import_csv(store, csv, actor="bench")
    print(f"import 10,000 rows: {time.perf_counter() - t:.2f} s")

    small = home / "small.csv"
    small.write_text(HEADER + "".join(rows.splitlines(keepends=True)[:5000]))
    store5 = Store(f"sqlite:///{home / 'five.db'}")
    Registry.import_csv(store5, small, actor="bench")
    reg = Registry(store5)
    texts = [f"Huge thanks to Firstname{i} Lastname{i} and @handle{i * 3} for the glowing review! 'Best "
             f"facial ever' - Nick{i} L. See you soon, Olivia!" for i in range(1000)]
    t = time.perf_counter()
    for tx in texts:
        reg.find_in_text(tx)
        reg.check(["P00001"], {"testimonial"}, "instagram", date.today())
    per = (time.perf_counter() - t) / len(texts) * 1000
    print(f"text matching with 5,000 patients: {per:.3f} ms per text (limit 5 ms)")

    vault = Vault()
    rng = np.random.default_rng(0)
    encs = rng.normal(0, 0.1, size=(5000, 128))
    with store5.session() as s:
        for i, e in enumerate(encs):
            s.add(FaceRecord(patient_id=f"P{i:05d}", photo_enc=vault.encrypt(b"x"),
                             encoding_enc=vault.encrypt(e.astype(np.float64).tobytes())))
    reg = Registry(store5)
    t = time.perf_counter()
    reg.face_encodings()
    print(f"decrypt and load 5,000 face encodings: {time.perf_counter() - t:.2f} s (once per process)")
    probes = encs[:200] + rng.normal(0, 0.01, size=(200, 128))
    t = time.perf_counter()
    for p in probes:
        reg.match_face(p)
    print(f"face matching against 5,000 encodings: {(time.perf_counter() - t) / len(probes) * 1000:.2f} ms per face")


if __name__ == "__main__":
    main()
