"""Memory after the load and after a quiet spell, and alert latency on an idle machine, for
statusgate and Alertmanager side by side (bench/run calls these)."""

import http.server
import json
import re
import socket
import threading
import time
import urllib.request


def rss_mb(pid):
    """Resident memory now (VmRSS), not the peak."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(samples):
    xs = sorted(samples)
    if not xs:
        return {"samples": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(p):
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
    return {"samples": len(xs), "p50": at(50), "p99": at(99), "max": xs[-1]}


class _Receiver(http.server.ThreadingHTTPServer):
    """Notes when each probe arrives: `probes_in(path, body)` names the probes a request
    carries (Alertmanager's webhook, or Slack's `chat.postMessage`)."""

    def __init__(self, probes_in):
        self.arrived = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.perf_counter()
                # What Slack answers (Alertmanager ignores it), in one write: headers and body
                # in separate small packets would wait on Nagle and delayed ACKs, and the
                # probe would measure TCP, not the service.
                answer = json.dumps({"ok": True, "channel": "C0PROBE", "ts": f"{time.time():.6f}"}).encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 + f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
                try:
                    names = probes_in(self.path, json.loads(body))
                except (ValueError, AttributeError):
                    names = []
                with receiver.cond:
                    for n in names:
                        receiver.arrived.setdefault(n, at)
                    receiver.cond.notify_all()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _alertmanager_probes(path, body):
    return [a.get("labels", {}).get("n") for a in body.get("alerts", [])]


def _slack_probes(path, body):
    if not path.endswith("/chat.postMessage"):
        return []
    return re.findall(r"Probe (idle\d+)", body.get("text", ""))


def _probe(receiver, seconds, post, limit):
    """One probe at a time, for `seconds` (at most `limit`): `post(name)` sends the alert and
    returns once the service acknowledged it. The sample runs from the moment the alert is
    sent to its arrival at `receiver`: measured from the acknowledgement instead, a service
    that starts work before it answers would show less than the alert's real journey (and
    sometimes less than nothing)."""
    samples = []
    deadline = time.time() + seconds
    for i in range(limit):
        if time.time() >= deadline:
            break
        n = f"idle{i:05d}"
        sent = time.perf_counter()
        post(n)
        with receiver.cond:
            receiver.cond.wait_for(lambda: n in receiver.arrived, timeout=5)
            if n in receiver.arrived:
                samples.append((receiver.arrived[n] - sent) * 1000)
        time.sleep(0.05)
    return percentiles(samples)


PROBES = 2000


def statusgate_latency(statusgate_class, workdir, seconds, token):
    """Alert sent → its draft posted to Slack for approval, one new incident per
    probe (a component of its own, group_wait 0s, the storm breaker and draft budget off,
    Slack's rate limit lifted), on an otherwise idle statusgate."""
    slack = _Receiver(_slack_probes)
    components = "\n".join(f"  - {{id: idle{i:05d}, name: Probe idle{i:05d}}}" for i in range(PROBES))
    routes = "\n".join(f"  - {{name: idle{i:05d}, match: ['n=\"idle{i:05d}\"'], components: [idle{i:05d}]}}"
                       for i in range(PROBES))
    catalog = f"components:\n{components}\nroutes:\n{routes}\n"
    config = ("storm: {max_incidents: 0, window: 10m}\n"
              f"slack: {{channel: C0PROBE, approvers: [U0PROBE], api_url: 'http://127.0.0.1:{slack.server_address[1]}/api', "
              "rate: {per_second: 100000, burst: 100000}}\n")
    env = {"STATUSGATE_SLACK_BOT_TOKEN": "xoxb-bench", "STATUSGATE_SLACK_SIGNING_SECRET": "bench-signing-secret-0123456789"}
    sg = statusgate_class(workdir, catalog, extra_config=config, extra_env=env, drafts_per_hour=0)

    def post(n):
        body = json.dumps({"version": "4", "status": "firing", "receiver": "bench", "groupKey": n, "truncatedAlerts": 0,
                           "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
                           "alerts": [{"status": "firing", "labels": {"alertname": "Probe", "n": n},
                                       "startsAt": "2026-11-30T12:00:00Z", "fingerprint": n}]}).encode()
        req = urllib.request.Request(f"{sg.url}/webhooks/alertmanager", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        urllib.request.urlopen(req, timeout=10).read()
    try:
        time.sleep(1)
        return _probe(slack, seconds, post, PROBES)
    finally:
        sg.stop()
        slack.shutdown()


def alertmanager_latency(alertmanager_class, workdir, seconds):
    """Alert sent → notification received by a webhook receiver, one new group per probe
    (group_by the probe's label, group_wait 0s), on an otherwise idle Alertmanager."""
    rx = _Receiver(_alertmanager_probes)
    config = (
        "route: {receiver: probe, group_by: [n], group_wait: 0s, group_interval: 1m, repeat_interval: 1h}\n"
        f"receivers: [{{name: probe, webhook_configs: [{{url: 'http://127.0.0.1:{rx.server_address[1]}/', send_resolved: false}}]}}]\n"
    )
    am = alertmanager_class(workdir, config)

    def post(n):
        body = json.dumps([{"labels": {"alertname": "Probe", "n": n}}]).encode()
        req = urllib.request.Request(f"{am.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
    try:
        return _probe(rx, seconds, post, PROBES)
    finally:
        am.stop()
        rx.shutdown()


def text(r):
    """The README lines for memory and idle latency."""
    m, i = r["memory"], r["idle"]
    sg_lat, am_lat = i["statusgate"], i["alertmanager"]
    ratio = sg_lat["p99"] / am_lat["p99"] if am_lat["samples"] and sg_lat["samples"] else float("nan")
    verdict = "met" if ratio <= 1.0 else "**missed**"
    mem_verdict = "met" if max(m["sg_after_runs"], m["sg_after_idle"]) <= 150 else "**missed**"
    return f"""Memory, resident now (not the peak), after the runs above and after {m['idle_s']} s with no
requests (not the hour the issue names: a benchmark that fits in a session):

| | Alertmanager | statusgate | target |
|---|---|---|---|
| RSS after the runs | {m['am_after_runs']:.0f} MB | {m['sg_after_runs']:.0f} MB | ≤ 150 MB — {mem_verdict} |
| RSS after {m['idle_s']} s idle | {m['am_after_idle']:.0f} MB | {m['sg_after_idle']:.0f} MB | |

Idle latency, nothing else running, each on a fresh process: an alert sent to statusgate's
webhook (its durable acknowledgement included) → the new draft's approval request received by
a local server speaking Slack's Web API (a new incident per probe, group_wait 0), against an
alert sent to Alertmanager's `POST /api/v2/alerts` → its webhook notification received (a new
group per probe, group_wait 0). Both are pushes to a receiver, measured the same way, from
the moment the alert is sent:

| | Alertmanager | statusgate | ratio (p99) | target |
|---|---|---|---|---|
| p50 / p99 / max | {am_lat['p50']:.1f} / {am_lat['p99']:.1f} / {am_lat['max']:.1f} ms ({am_lat['samples']} probes) | {sg_lat['p50']:.1f} / {sg_lat['p99']:.1f} / {sg_lat['max']:.1f} ms ({sg_lat['samples']} probes) | {ratio:.2f}× | ≤ 1.0× — {verdict} |"""
