"""Where the ingest path spends its time: `perf record` on the release build while bench/run's
1-alert and 100-alert loads run (the same Lua script, connections and catalog), the samples
grouped by what they were doing, and the symbols that took the most.

`bench/run --only profile` runs it (about a minute; needs perf, Debian's `linux-perf`) and
writes its block in bench/README.md. Samples are of every thread of the statusgate process,
user and kernel; wrk's own time is not in them.
"""

import os
import re
import subprocess
import tempfile

import benchlib

SECONDS = 10
FREQUENCY = 999

# (area, test on a `perf report` line's shared object and symbol), first match wins.
# The kernel's scheduler lines are where a thread woke or was switched: in a virtual machine
# that is where the time of handing work from one thread to another shows.
AREAS = [
    ("kernel: waking and switching threads", lambda dso, sym: dso.startswith("[kernel") and re.search(
        r"finish_task_switch|_raw_spin_unlock_irq|__schedule|futex|try_to_wake_up|schedule|select_task_rq", sym)),
    ("kernel: network, disk, memory and the rest", lambda dso, sym: dso.startswith("[kernel")),
    ("sled (storage engine)", lambda dso, sym: re.search(r"\b(sled|crossbeam_epoch)::", sym)),
    ("JSON (serde_json)", lambda dso, sym: "serde_json" in sym),
    ("HTTP (hyper, axum, tower)", lambda dso, sym: re.search(r"\b(hyper|hyper_util|axum|axum_core|tower|tower_http|http)::", sym)),
    ("async runtime (tokio)", lambda dso, sym: "tokio::" in sym),
    ("allocator (mimalloc)", lambda dso, sym: re.match(r"_?mi_|mi_", sym)),
    ("memory copies and compares (libc)", lambda dso, sym: re.match(r"__mem|memcpy|memmove|memset|memcmp", sym)),
    ("statusgate's own code", lambda dso, sym: "statusgate::" in sym),
    ("Rust collections and strings (Vec, String, maps)", lambda dso, sym: re.search(
        r"\b(alloc|hashbrown|indexmap)::|core::str::|core::slice::", sym)),
    ("dates (chrono)", lambda dso, sym: "chrono::" in sym),
]
OTHER = "everything else (libc, hashing, …)"


def _report(data):
    """(percent, dso, symbol) per line of `perf report`, largest first."""
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio"],
                         capture_output=True, text=True, timeout=300).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*\S)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    return rows


def _area(dso, sym):
    return next((name for name, test in AREAS if test(dso, sym)), OTHER)


def _one(statusgate_class, workdir, catalog, token, n):
    """One load of `n` alerts per request, profiled."""
    sg = statusgate_class(workdir, catalog)
    data = os.path.join(workdir, f"perf-{n}.data")
    try:
        perf = subprocess.Popen(["perf", "record", "-F", str(FREQUENCY), "-p", str(sg.proc.pid), "-o", data,
                                 "--", "sleep", str(SECONDS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = benchlib.wrk(f"{sg.url}/webhooks/alertmanager",
                            os.path.join(benchlib.ROOT, "bench", "lua", "alertmanager-webhook.lua"), n,
                            SECONDS, [f"Authorization: Bearer {token}"])
        perf.wait(timeout=SECONDS + 60)
    finally:
        sg.stop()
    rows = _report(data)
    areas = {}
    for pct, dso, sym in rows:
        area = _area(dso, sym)
        areas[area] = areas.get(area, 0.0) + pct
    return {"alerts_per_request": n, "load": {k: v for k, v in load.items() if k != "raw"},
            "areas": areas, "top": rows[:12]}


def measure(statusgate_class, workdir, catalog, token):
    if subprocess.run(["perf", "--version"], capture_output=True).returncode != 0:
        raise SystemExit("perf is missing: apt-get install linux-perf")
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        return {"commit": benchlib.commit(), "machine": benchlib.machine(),
                "runs": [_one(statusgate_class, d, catalog, token, n) for n in (1, 100)]}


def write(r):
    """The block in bench/README.md, from this run's figures only."""
    head = benchlib.provenance(r["machine"], r["commit"],
                               f"perf record at {FREQUENCY} Hz for {SECONDS} s per load, release build, "
                               "8 connections, loopback only")
    names = [name for name, _ in AREAS] + [OTHER]
    runs = r["runs"]
    loads = []
    for run in runs:
        load = run["load"]
        rate = f"{load['rps']:,.0f} requests/s" if load.get("ok") else "no rate (answers other than 2xx)"
        loads.append(f"{run['alerts_per_request']} alert(s) per request: {rate}, "
                     f"{load['unexpected']} answers other than 2xx of {load['answers']:,}")
    table = ["| what the samples were doing | " + " | ".join(f"{x['alerts_per_request']} alert(s)/request" for x in runs) + " |",
             "|---|" + "---|" * len(runs)]
    for name in names:
        table.append(f"| {name} | " + " | ".join(f"{x['areas'].get(name, 0.0):.1f} %" for x in runs) + " |")
    tops = []
    for run in runs:
        tops.append(f"\nThe symbols with the most samples, {run['alerts_per_request']} alert(s) per request:\n")
        tops.append("| samples | object | symbol |\n|---|---|---|")
        for pct, dso, sym in run["top"]:
            sym = sym if len(sym) <= 90 else sym[:87] + "…"
            tops.append(f"| {pct:.1f} % | {dso} | `{sym.replace('|', '/')}` |")
    body = (head + "\n\n" + "; ".join(loads) + ".\n\n" + "\n".join(table) + "\n" + "\n".join(tops))
    benchlib.write_block("profile", "bench/run", "Where ingest spends its time (`bench/run --only profile`)", body)
