"""Memory after a fixed amount of work and after an hour of nothing: both services are sent
the same 100,000 distinct alerts (100 per request, one request at a time, every answer
counted), then left idle; resident memory (VmRSS) is read after the alerts, every ten
minutes, and at the end, with the peak (VmHWM).

A fixed number of alerts rather than a timed load, so that a busy machine changes how long
it takes, not what is measured. `bench/run --only memory` runs it (about 62 minutes) and
writes its block in bench/README.md.
"""

import json
import time
import urllib.error
import urllib.request

import benchlib
from idle_bench import rss_mb

ALERTS = 100_000
PER_REQUEST = 100
SAMPLE_EVERY_S = 600


def _alerts(start):
    return [{"status": "firing",
             "labels": {"alertname": "MemoryBench", "service": f"svc-{i % 200}", "instance": f"10.1.{i % 250}.{i % 97}:9100",
                        "severity": "critical", "n": str(i)},
             "annotations": {"summary": "memory bench alert"},
             "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom:9090/graph", "fingerprint": f"{i:016x}"}
            for i in range(start, start + PER_REQUEST)]


def _send(url, body, headers):
    """Posts one request; the status code (0 when the connection failed)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _load(sg, am, token):
    """Sends the alerts to both; answers other than 2xx, per service."""
    bad = {"statusgate": 0, "alertmanager": 0}
    for start in range(0, ALERTS, PER_REQUEST):
        alerts = _alerts(start)
        webhook = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
                   "receiver": "statuspage", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                   "externalURL": "http://am:9093", "alerts": alerts}
        if not 200 <= _send(f"{sg.url}/webhooks/alertmanager", webhook, {"Authorization": f"Bearer {token}"}) < 300:
            bad["statusgate"] += 1
        api = [{"labels": a["labels"], "annotations": a["annotations"], "startsAt": a["startsAt"]} for a in alerts]
        if not 200 <= _send(f"{am.url}/api/v2/alerts", api, {}) < 300:
            bad["alertmanager"] += 1
    return bad


def measure(statusgate_class, alertmanager_class, peak_rss_mb, workdir, catalog, token, idle_s):
    # Named now: the code may move on during the hour.
    measured = {"commit": benchlib.commit(), "machine": benchlib.machine()}
    sg = statusgate_class(workdir, catalog)
    am = alertmanager_class(workdir)
    try:
        started = time.time()
        bad = _load(sg, am, token)
        out = {"alerts": ALERTS, "per_request": PER_REQUEST, "load_s": round(time.time() - started, 1),
               "non_2xx": bad, "idle_s": idle_s,
               "after_alerts": {"statusgate": rss_mb(sg.proc.pid), "alertmanager": rss_mb(am.proc.pid)},
               "samples": [], **measured}
        waited = 0
        while waited < idle_s:
            step = min(SAMPLE_EVERY_S, idle_s - waited)
            time.sleep(step)
            waited += step
            out["samples"].append({"after_s": waited, "statusgate": rss_mb(sg.proc.pid),
                                   "alertmanager": rss_mb(am.proc.pid)})
            print(f"memory after {waited} s idle: {out['samples'][-1]}", flush=True)
        out["after_idle"] = out["samples"][-1] if out["samples"] else out["after_alerts"]
        out["peak"] = {"statusgate": peak_rss_mb(sg.proc.pid), "alertmanager": peak_rss_mb(am.proc.pid)}
        return out
    finally:
        sg.stop()
        am.stop()


def write(r):
    """The block in bench/README.md, from this run's figures only."""
    head = benchlib.provenance(r["machine"], r["commit"],
                               f"{r['alerts']:,} distinct alerts, {r['per_request']} per request, then {r['idle_s'] // 60} min idle")
    s, a = r["after_alerts"], r["after_idle"]
    bad = r["non_2xx"]
    rows = [
        f"| resident after the alerts | {s['alertmanager']:.0f} MB | {s['statusgate']:.0f} MB |",
        *[f"| resident after {x['after_s'] // 60} min idle | {x['alertmanager']:.0f} MB | {x['statusgate']:.0f} MB |"
          for x in r["samples"]],
        f"| peak (VmHWM) | {r['peak']['alertmanager']:.0f} MB | {r['peak']['statusgate']:.0f} MB |",
        f"| answers other than 2xx | {bad['alertmanager']} | {bad['statusgate']} |",
    ]
    # #23's row: peak memory after 100,000 distinct alerts, at most 0.4× Alertmanager's
    # and 150 MB; and no growth while idle.
    peak = r["peak"]["statusgate"] / r["peak"]["alertmanager"]
    met = peak <= 0.4 and r["peak"]["statusgate"] <= 150 and a["statusgate"] <= 150
    body = (head + f"\n\nSending took {r['load_s']} s (both services, one request at a time).\n\n"
            "| | Alertmanager | statusgate |\n|---|---|---|\n" + "\n".join(rows) +
            f"\n\nstatusgate's peak is {peak:.2f}× Alertmanager's; resident right after the alerts, "
            f"{s['statusgate'] / s['alertmanager']:.2f}×. Target (#23): peak at most 0.4× Alertmanager's and "
            f"150 MB, and at most 150 MB after the idle hour — {'met' if met else 'missed'}.")
    benchlib.write_block("memory", "bench/run", "Memory after an idle hour (`bench/run --only memory`)", body)
