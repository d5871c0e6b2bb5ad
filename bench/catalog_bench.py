"""The catalog benchmark of bench/run: statusgate's 10,000-route catalog beside the same
routes in Alertmanager, both written by catalog_gen.py. `bench/run --only catalog` runs
just this and prints it.

Loading: `statusgate check` against `amtool check-config`, whole processes, interleaved.
Mapping one alert: statusgate in process (`cargo bench --bench catalog` on the same file,
the whole path from labels to components), Alertmanager as its own dispatcher times it.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

import benchlib
import catalog_gen

ROOT = benchlib.ROOT


def timed_runs(cmds, runs):
    """Wall time of each command (a whole process, as a user runs it), `runs` times each,
    interleaved so that a busy moment hits all alike; median ms per command. Any run that
    exits non-zero stops the benchmark."""
    times = [[] for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            times[i].append((time.perf_counter() - t) * 1000)
            if r.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return [statistics.median(t) for t in times]


def am_dispatch_us(alertmanager, work, n):
    """Alertmanager's own figure for routing one alert through the 10,000 routes: it times
    each alert its dispatcher routes (`alertmanager_dispatcher_alert_processing_duration_seconds`,
    sum ÷ count). `n` distinct alerts that no route takes, so each walks the whole tree."""
    am = alertmanager(work, catalog_gen.alertmanager_yaml())
    try:
        alerts = [{"labels": {**catalog_gen.UNMAPPED_ALERT, "n": str(i)}} for i in range(n)]
        for i in range(0, n, 100):
            req = urllib.request.Request(f"{am.url}/api/v2/alerts", data=json.dumps(alerts[i:i + 100]).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=30).read()
        deadline = time.time() + 120
        while True:
            metrics = urllib.request.urlopen(f"{am.url}/metrics", timeout=10).read().decode()
            m = dict(re.findall(r"^alertmanager_dispatcher_alert_processing_duration_seconds_(sum|count) (\S+)$", metrics, re.M))
            if float(m.get("count", 0)) >= n:
                return float(m["sum"]) / float(m["count"]) * 1e6, int(float(m["count"]))
            if time.time() > deadline:
                raise SystemExit(f"Alertmanager routed {m.get('count', 0)} of {n} alerts in 120 s")
            time.sleep(0.2)
    finally:
        am.stop()


def measure(statusgate, amtool, alertmanager, quick=False):
    """The 10,000-route catalog (catalog_gen.py) beside the same routes as an
    Alertmanager configuration: loading and checking it (`statusgate check` against
    `amtool check-config`, whole processes), and mapping one alert (statusgate in process,
    `cargo bench --bench catalog`; Alertmanager's dispatcher, see `am_dispatch_us`)."""
    runs = 5 if quick else 15
    work = tempfile.mkdtemp(prefix="statusgate-catalog-")
    try:
        os.makedirs(f"{work}/mappings")
        with open(f"{work}/mappings/bench.yaml", "w") as f:
            f.write(catalog_gen.statusgate_yaml())
        with open(f"{work}/am.yml", "w") as f:
            f.write(catalog_gen.alertmanager_yaml())
        with open(f"{work}/config.yaml", "w") as f:
            f.write(f"listen: 127.0.0.1:0\ndata_dir: {work}/data\nmappings: {work}/mappings\npublic_url: http://127.0.0.1:9\n")
        # The bench profile is the release one: this also builds target/release/statusgate.
        subprocess.run(["cargo", "bench", "--locked", "--bench", "catalog", "--no-run"], cwd=ROOT, check=True,
                       capture_output=True, timeout=3600)
        check = [statusgate, "check", "--config", f"{work}/config.yaml"]
        ok = subprocess.run(check, capture_output=True, text=True, timeout=120).stdout
        if f"{catalog_gen.ROUTES} route(s)" not in ok:
            raise SystemExit(f"statusgate check did not load the catalog: {ok}")
        am_check = [amtool, "check-config", f"{work}/am.yml"]
        sg_ms, am_ms = timed_runs([check, am_check], runs)

        am_route_us, am_routed = am_dispatch_us(alertmanager, work, 500 if quick else 2000)

        env = {**os.environ, "STATUSGATE_BENCH_CATALOG": f"{work}/mappings/bench.yaml"}
        out = subprocess.run(["cargo", "bench", "--locked", "--bench", "catalog"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=1800).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = {"routes": catalog_gen.ROUTES, "runs": runs, "check_ms": sg_ms, "amtool_check_ms": am_ms,
            "am_dispatch_us": am_route_us, "am_dispatch_alerts": am_routed}
    for name in ["load_and_validate", "route_equality_match", "route_regex_match", "route_unmapped"]:
        m = re.search(rf"{name}\s+\S+ \S+\s+│\s+\S+ \S+\s+│\s+(\S+) (\S+)", out)
        rows[name] = f"{m.group(1)} {m.group(2)}" if m else "?"
        rows[f"{name}_us"] = float(m.group(1)) * {"ns": 1e-3, "µs": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else float("nan")
    return rows


def text(c):
    """The catalog rows, as bench/README.md shows them (also the output of `--only catalog`)."""
    def ok(cond):
        return "met" if cond else "**missed**"

    am_walk = c["am_dispatch_us"]
    worst = max(c["route_equality_match_us"], c["route_regex_match_us"], c["route_unmapped_us"])
    return f"""Catalog of {c['routes']:,} routes (`bench/catalog_gen.py` writes it as a statusgate mapping file and as the
same routes in an Alertmanager routing tree, one receiver per component), medians of {c['runs']} runs each, interleaved:

| | Alertmanager | statusgate | ratio | target |
|---|---|---|---|---|
| load and check, whole process (`amtool check-config` / `statusgate check`) | {c['amtool_check_ms']:.0f} ms | {c['check_ms']:.0f} ms | {c['check_ms'] / c['amtool_check_ms']:.2f}× | ≤ 0.5× — {ok(c['check_ms'] <= 0.5 * c['amtool_check_ms'])} |
| load and validate in process (`cargo bench --bench catalog`) | | {c['load_and_validate']} | | |
| map one alert through all routes (worst case: none matches) | {am_walk:,.0f} µs | {c['route_unmapped']} | {c['route_unmapped_us'] / am_walk:.4f}× | ≤ 5 µs — {ok(worst <= 5)} |
| map one alert: equality route / regex route near the end | | {c['route_equality_match']} / {c['route_regex_match']} | | ≤ 5 µs |

statusgate maps in process, end to end: the alert's label map built, routed through the index, its components
out, all dropped inside the timed call (`cargo bench --bench catalog`, median). Alertmanager's figure is its own:
the time its dispatcher spends routing each alert (`alertmanager_dispatcher_alert_processing_duration_seconds`,
sum ÷ count) over {c['am_dispatch_alerts']:,} distinct alerts no route takes, posted to `POST /api/v2/alerts` of a server
running the generated configuration."""
