"""What bench/sales_ingest.py sends: a fleet's vends in batches and a month of its DEX audits
(cumulative counters, written with sales.dex.writer). Pure: no Django, no I/O."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: Selection codes of every machine: 1-6 coffee buttons with recipes on even machines.
SELECTIONS = [str(n) for n in range(1, 11)]
PRICES = {code: 5000 + 1000 * n for n, code in enumerate(SELECTIONS)}
#: The audit files of both import paths (HTTP, the service in-process) are the same bytes.
AUDIT_SEED = 15


def vend_batches(keys: list[dict], total: int, batch: int, rng: random.Random,
                 tag: str = "b") -> list[tuple]:
    """`total` vends as (key, body) batches of `batch`, machines in turn, in the last hour,
    transaction ids starting with `tag`;
    a realistic payment mix (cash 45 %, card 30 %, mobile 25 %: Payme / Click)."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    methods = ["cash"] * 9 + ["card"] * 6 + ["mobile"] * 5
    out = []
    for n in range(total // batch):
        key = keys[n % len(keys)]
        vends = []
        for i in range(batch):
            code = rng.choice(SELECTIONS)
            method = rng.choice(methods)
            at = now - timedelta(seconds=rng.randrange(3600))
            vends.append({"machineId": key["machine"], "transactionId": f"{tag}{n}-{i}",
                          "selection": code, "price": PRICES[code], "paymentMethod": method,
                          **({"provider": rng.choice(["payme", "click"])}
                             if method == "mobile" else {}),
                          "timestamp": at.isoformat().replace("+00:00", "Z")})
        out.append((key, json.dumps(vends).encode()))
    return out


def audit_files(keys: list[dict], count: int, time_zone: str,
                rng: random.Random) -> list[list[tuple]]:
    """`count` audits, one a day per machine (machine n % fleet on day n // fleet), read at
    08:00 local plus a few minutes, each with cumulative counters, for the days up to
    yesterday. Returned per day, in machine order."""
    from sales.dex.writer import write_dex

    fleet = len(keys)
    days = -(-count // fleet)
    zone = ZoneInfo(time_zone)
    today = datetime.now(zone).replace(hour=8, minute=0, second=0, microsecond=0)
    counters = [{code: [0, 0] for code in SELECTIONS} for _ in keys]
    cash, card = [0] * fleet, [0] * fleet
    per_day: list[list[tuple]] = []
    for day in range(days):
        read_day = today - timedelta(days=days - day)
        files = []
        for m in range(min(fleet, count - day * fleet)):
            for code in SELECTIONS:
                sold = rng.randrange(2, 12)
                counters[m][code][0] += sold
                counters[m][code][1] += sold * PRICES[code]
                if rng.random() < 0.55:
                    cash[m] += sold * PRICES[code]
                else:
                    card[m] += sold * PRICES[code]
            vends = sum(v for v, _ in counters[m].values())
            value = sum(v for _, v in counters[m].values())
            at = read_day + timedelta(minutes=m % 50)
            serial = keys[m]["serial"]
            data = [f"ID1*{serial}*BENCH*0100", "ID4*0*860*UZS", f"CB1*{serial}*BENCH-CPU*0100",
                    f"VA1*{value}*{vends}*{value}*{vends}", f"CA2*{cash[m]}*0*{cash[m]}*0",
                    f"DA2*{card[m]}*0*{card[m]}*0"]
            for code in SELECTIONS:
                n, v = counters[m][code]
                data += [f"PA1*{code}*{PRICES[code]}", f"PA2*{n}*{v}*{n}*{v}"]
            data.append(f"EA3*{day + 1}*{at:%y%m%d}*{at:%H%M}")
            files.append((keys[m], write_dex(data).encode("latin-1")))
        per_day.append(files)
    return per_day
