"""Registry benchmark: import 10,000 rows (new, then unchanged, then 10% changed); load the index;
text matching with 5,000 patients (must stay under 5 ms per text); the authorization check; face
matching against 5,000 enrolled encodings; enrolling one real photo.

Run: .venv/bin/python bench/bench_registry.py
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
FIRST = ["Olivia", "Emma", "Ava", "Sophia", "Mia", "Amelia", "Harper", "Evelyn", "Abigail", "Ella", "Priya", "Mei",
         "Fatima", "Lucia", "Noor", "Chloe", "Grace", "Zoe", "Nora", "Lily", "Hannah", "Aria", "Layla", "Camila"]
LAST = ["Garcia", "Smith", "Nguyen", "Patel", "Kim", "Lopez", "Brown", "Davis", "Wilson", "Moore", "Taylor", "Clark",
        "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Hill", "Green", "Adams", "Baker"]


def rows(n: int, variant: int = 0) -> str:
    out = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], f"{LAST[(i // len(FIRST)) % len(LAST)]}{i}"
        expires = "2099-01-01" if not (variant and i % 10 == 0) else "2098-01-01"
        out.append(f"P{i:05d},{first} {last},{first[:3]} {last[0]}.,@{first.lower()}.{i},testimonial;"
                   f"name_in_marketing,all,2024-01-01,{expires},,\n")
    return HEADER + "".join(out)


def timed(fn, repeat: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    os.environ.pop("MEDSPA_SCAN_KEY", None)
    from scanner import Registry, Store
    from scanner.registry.authorizations import FaceRecord, encode_single_face, open_vault

    big = home / "big.csv"
    store = Store()
    big.write_text(rows(10_000))
    print(f"import 10,000 rows (new):          {timed(lambda: Registry.import_csv(store, big, actor='bench')):6.2f} s")
    print(f"import 10,000 rows (unchanged):    {timed(lambda: Registry.import_csv(store, big, actor='bench')):6.2f} s")
    big.write_text(rows(10_000, variant=1))
    print(f"import 10,000 rows (10% changed):  {timed(lambda: Registry.import_csv(store, big, actor='bench')):6.2f} s")
    print(f"load the index of 10,000 patients: {timed(lambda: Registry(store)):6.2f} s")

    five = home / "five.csv"
    five.write_text(rows(5_000))
    store5 = Store(f"sqlite:///{home / 'five.db'}")
    Registry.import_csv(store5, five, actor="bench")
    reg = Registry(store5)
    names = [r.full_name for r in list(reg.records.values())[:400]]
    texts = []
    for i, name in enumerate(names):
        first = name.split()[0]
        texts.append(f"Huge thanks to {name} and @{first.lower()}.{i * 7} for the glowing review! 'Best facial "
                     f"ever' - {first} {name.split()[1][0]}. Book with Dr. Elena Park at (512) 555-0148; our spring "
                     f"special runs through May 31. {first}'s results speak for themselves. See you soon!")
    texts += [t * 4 for t in texts[:100]]  # a few long captions
    per = []
    for tx in texts:
        t = time.perf_counter()
        reg.find_in_text(tx)
        per.append((time.perf_counter() - t) * 1000)
    per.sort()
    print(f"text matching, 5,000 patients:     mean {statistics.mean(per):.3f} ms, p95 {per[int(len(per) * .95)]:.3f} ms,"
          f" max {per[-1]:.3f} ms per text (limit 5 ms); {len(texts)} texts of "
          f"{min(map(len, texts))}-{max(map(len, texts))} chars")
    hits = sum(len(reg.find_in_text(t)) for t in texts[:400])
    print(f"  people found in the 400 short texts: {hits}")
    check = timed(lambda: reg.check(["P00001"], {"testimonial", "name_in_marketing"}, "instagram", date.today()), 10_000)
    print(f"authorization check:               {check * 1e6:.1f} us")
    fn = timed(lambda: reg.find_in_filename("olivia_garcia0_lips_before_after.jpg"), 10_000)
    print(f"file-name matching:                {fn * 1e6:.1f} us")

    rng = np.random.default_rng(0)
    encs = rng.normal(0, 0.09, size=(5000, 128))
    faces = Path(os.environ.get("MEDSPA_SHARED", ROOT.parent / "shared")) / "faces"
    with store5.session() as s:
        vault = open_vault(s, create=True)
        pids = list(reg.records)[:5000]
        for pid, e in zip(pids, encs, strict=True):
            s.add(FaceRecord(patient_id=pid, photo_enc=vault.encrypt(b"x"), encoding_enc=vault.encrypt(e.tobytes())))
    reg = Registry(store5)
    print(f"decrypt and load 5,000 encodings:  {timed(reg.face_encodings):6.2f} s (once per process, until a change)")
    probes = encs[:500] + rng.normal(0, 0.01, size=(500, 128))
    per_face = timed(lambda: [reg.match_face(p) for p in probes]) / len(probes)
    print(f"face matching, 5,000 encodings:    {per_face * 1000:.3f} ms per face")
    if (faces / "obama.jpg").exists():
        t = time.perf_counter()
        reg.enroll_face(pids[0], faces / "obama.jpg", actor="bench")
        enroll = time.perf_counter() - t
        probe = encode_single_face(faces / "obama2.jpg")[1]
        m = reg.match_face(probe)
        print(f"enroll one real photo (910x1137):  {enroll:6.2f} s; obama2 -> {m.patient_id if m else None} "
              f"at {m.distance if m else float('nan'):.3f}")


if __name__ == "__main__":
    main()
