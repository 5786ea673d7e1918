"""A seeded corpus of any size grown from the real Open Repair Alliance records.

Source: the ORDS CSVs in ../shared/data/openrepair/records (86,196 repair attempts, of
which 76,760 have a problem description; CC BY-SA 4.0, (c) Open Repair Alliance).

How documents are made (all randomness from `seed`, so the same seed and data give the
same corpus, byte for byte; the corpus of size n is the first n documents of the
corpus of any larger size):

1. Every record with a non-empty `problem` is read (id, problem, product_category,
   repair_status, data_provider).  `queries` of them (default 200) are drawn at random
   and held out: they are never documents, and serve as search/triage queries.
2. Documents 1..R are the remaining real records, in a seeded random order (R = 76,560).
3. Documents R+1.. are synthetic.  Each real problem is cut into clauses (at . ! ? ;
   and line breaks, keeping clauses with at least two letters); clauses are pooled per
   (product_category, data_provider), which keeps a pool in one language (the providers
   are Dutch/multilingual, German, British and American repair groups).  A synthetic
   document picks a pool with the probability of its share of real records, a number of
   clauses from the real distribution of clauses per record (1-4), that many clauses
   from the pool at random, and joins them as sentences; its category is the pool's,
   its status drawn from the pool's real status mix.  Three in four synthetic documents
   also name the device the way a ticket would, "<item> <brand>: ..." or "<brand>
   <item> - ...", with the brand drawn from the pool's real brands (not "Unknown") and the
   item from its real partner categories (the part after "~", in the pool's language).
   Ids are `syn-0000001`, ...

So synthetic documents read like real ones (real sentences, real category/language mix,
similar length) but say new combinations of things.  About a quarter repeat an existing
description exactly (mostly the short one-clause ones such as "not working"); in the
real data 21% of descriptions repeat.

Usage:  python bench/corpus.py --n 1000000 --out corpus.csv   (columns: id, problem,
        product_category, repair_status)
"""

from __future__ import annotations

import argparse
import bisect
import csv
import glob
import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "openrepair" / "records"
COLUMNS = ["id", "problem", "product_category", "repair_status"]
_SPLIT = re.compile(r"(?<=[.!?;])\s+|[\r\n]+|(?<=[a-z])[.!?;](?=[A-Z])")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


def clauses(text: str) -> list[str]:
    """A problem description cut into sentences/clauses, trailing punctuation removed."""
    out = []
    for part in _SPLIT.split(text):
        part = part.strip().rstrip(".!?;").strip()
        if len(_LETTERS.findall(part)) >= 2:
            out.append(part)
    return out


PREFIXED = 0.75  # share of synthetic documents that name the device
TEMPLATES = ("{item} {brand}: {text}", "{brand} {item} - {text}", "{item}: {text}")


@dataclass
class Pool:
    clauses: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    brands: Counter = field(default_factory=Counter)
    items: Counter = field(default_factory=Counter)
    records: int = 0


class Corpus:
    """The real records plus as many synthetic documents as asked for (see module doc)."""

    def __init__(self, data_dir: str | Path = DEFAULT_DATA, seed: int = 0,
                 queries: int = 200) -> None:
        self.seed = seed
        files = sorted(glob.glob(str(Path(data_dir) / "*.csv")))
        if not files:
            raise SystemExit(f"no CSV files in {data_dir}")
        rows = []
        for name in files:
            with open(name, encoding="utf-8-sig", newline="") as fh:
                for r in csv.DictReader(fh):
                    text = (r.get("problem") or "").strip()
                    if text:
                        rows.append({"id": r["id"], "problem": text,
                                     "product_category": r.get("product_category") or "",
                                     "repair_status": r.get("repair_status") or "",
                                     "provider": r.get("data_provider") or "",
                                     "brand": (r.get("brand") or "").strip(),
                                     "item": (r.get("partner_product_category") or "")
                                     .split("~")[-1].strip()})
        self.source_rows = len(rows)
        rng = random.Random(seed)
        order = list(range(len(rows)))
        rng.shuffle(order)
        self.queries = [rows[i] for i in order[:queries]]
        self.real = [rows[i] for i in order[queries:]]
        # clause pools from the real documents only (never from the held-out queries)
        pools: dict[tuple[str, str], Pool] = defaultdict(Pool)
        per_record: Counter = Counter()
        for r in self.real:
            parts = clauses(r["problem"])
            if not parts:
                continue
            pool = pools[(r["product_category"], r["provider"])]
            pool.clauses.extend(parts)
            pool.statuses[r["repair_status"]] += 1
            if r["brand"] and r["brand"].lower() not in ("unknown", "other", "n/a", "-"):
                pool.brands[r["brand"]] += 1
            if r["item"]:
                pool.items[r["item"]] += 1
            pool.records += 1
            per_record[min(len(parts), 4)] += 1
        self.pools = [(k, p) for k, p in sorted(pools.items()) if p.clauses]
        self._pool_cum = list(itertools.accumulate(p.records for _, p in self.pools))
        self._k_values = sorted(per_record)
        self._k_cum = list(itertools.accumulate(per_record[k] for k in self._k_values))
        def weighted(c: Counter) -> tuple[list[str], list[int]]:
            return list(c), list(itertools.accumulate(c.values()))

        self._status = {key: weighted(p.statuses) for key, p in self.pools}
        self._brands = {key: weighted(p.brands) for key, p in self.pools}
        self._items = {key: weighted(p.items) for key, p in self.pools}

    def describe(self) -> dict:
        return {"source_rows_with_problem": self.source_rows, "held_out_queries":
                len(self.queries), "real_documents": len(self.real), "clause_pools":
                len(self.pools), "clauses": sum(len(p.clauses) for _, p in self.pools),
                "clauses_per_record": dict(zip(self._k_values, self._k_cum, strict=True)),
                "seed": self.seed}

    def synthetic(self) -> Iterator[dict]:
        """Endless synthetic documents; each also carries its clauses ("parts")."""
        rng = random.Random(self.seed + 1)
        for j in itertools.count(1):
            key, pool = self.pools[bisect.bisect_right(self._pool_cum,
                                                       rng.random() * self._pool_cum[-1])]
            k = self._k_values[bisect.bisect_right(self._k_cum, rng.random() * self._k_cum[-1])]
            parts = [pool.clauses[rng.randrange(len(pool.clauses))] for _ in range(k)]
            status = _draw(rng, self._status[key])
            text = ". ".join(parts) + ("." if k > 1 else "")
            lead = ""
            if rng.random() < PREFIXED and self._items[key][0]:
                item, brand = _draw(rng, self._items[key]), _draw(rng, self._brands[key])
                template = TEMPLATES[rng.randrange(len(TEMPLATES))]
                if not brand:
                    template = TEMPLATES[2]
                lead = " ".join(w for w in (item, brand) if w) if brand and "{brand}" in \
                    template else item
                text = template.format(item=item, brand=brand, text=text)
            yield {"id": f"syn-{j:07d}", "problem": text, "product_category": key[0],
                   "repair_status": status, "parts": parts, "lead": lead}

    def documents(self, n: int) -> Iterator[dict]:
        """The first n documents: the real records, then synthetic ones."""
        for r in self.real[:n]:
            yield {**r, "parts": [r["problem"]], "lead": ""}
        if n > len(self.real):
            yield from itertools.islice(self.synthetic(), n - len(self.real))

    def write_csv(self, path: str | Path, n: int) -> int:
        count = 0
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore", quoting=csv.QUOTE_MINIMAL)
            w.writeheader()
            for doc in self.documents(n):
                w.writerow(doc)
                count += 1
        return count


def _draw(rng: random.Random, weighted: tuple[list[str], list[int]]) -> str:
    names, cum = weighted
    if not names:
        return ""
    return names[bisect.bisect_right(cum, rng.random() * cum[-1])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--show", type=int, default=0, help="print N synthetic documents")
    args = p.parse_args()
    corpus = Corpus(args.data, args.seed)
    print(corpus.describe())
    for doc in itertools.islice(corpus.synthetic(), args.show):
        print(doc["product_category"], "|", doc["repair_status"], "|", doc["problem"])
    print(corpus.write_csv(args.out, args.n), "documents written to", args.out)


if __name__ == "__main__":
    main()
