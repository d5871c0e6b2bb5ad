"""What every bench script shares: the machine and commit a figure was measured on, wrk runs
that count every answer by status, and the generated blocks of bench/README.md.

A figure is written only by a script, inside a block that names the commit and the machine;
a throughput is reported only when every answer was the one expected (2xx, or 304 for a
conditional request): a rate of refusals measures the refusal, not the service.
"""

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "bench", "README.md")
COUNT_LUA = os.path.join(ROOT, "bench", "lua", "count.lua")
PACE_LUA = os.path.join(ROOT, "bench", "lua", "pace.lua")


def _run(cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def commit():
    """The commit measured, marked `-dirty` when the work tree differs from it (bench/README.md,
    which the scripts themselves rewrite, does not count)."""
    head = _run(["git", "rev-parse", "--short=12", "HEAD"]) or "unknown"
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/README.md"])
    return head + ("-dirty" if dirty else "")


def machine():
    """Cores, memory, CPU model and load at the start, as this machine reports them."""
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": model,
        "load_1m": round(os.getloadavg()[0], 2),
        "rustc": _run(["rustc", "--version"]),
    }


def provenance(m, c, what):
    """The first line of every generated block."""
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on commit `{c}`, {what}; machine: "
            f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB memory, load {m['load_1m']} at the start, "
            f"{m['rustc']}. If `git log {c.removesuffix('-dirty')}..HEAD -- src Cargo.lock` lists commits, "
            f"these figures are older than the code.")


def write_block(name, script, heading, body):
    """Replaces the block `name` in bench/README.md (or appends it under `heading`)."""
    start, end = f"<!-- {name}: written by {script} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = open(README).read() if os.path.exists(README) else "# Benchmarks\n"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n{block}\n"
    with open(README, "w") as f:
        f.write(text)


def wrk(url, script=None, n=1, seconds=15, headers=(), connections=8, expect="2xx", threads=2, pace=None):
    """One wrk run. Every answer is counted by status in Lua (bench/lua/count.lua); `ok` is
    False when any answer was not `expect` ("2xx" or one status such as "304") or any socket
    error happened, and then `rps` is None: no throughput is reported for such a run.
    `pace` = (requests per second per thread, first fingerprint) paces a script that loads
    bench/lua/pace.lua instead of sending as fast as answers come."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
           "-s", script or COUNT_LUA]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    env = {**os.environ, "N": str(n), "BENCH_COUNT_LUA": COUNT_LUA, "BENCH_EXPECT": expect}
    if pace:
        env.update({"RATE": str(pace[0]), "FIRST": str(pace[1]), "BENCH_PACE_LUA": PACE_LUA})
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"^bench-count: answers=(\d+) expected=(\d+) other=(\d+)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk printed no answer counts (is {COUNT_LUA} loaded?):\n{out}")
    answers, expected, other = map(int, m.groups())
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(map(int, sock.groups())) if sock else 0
    non2xx_line = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    wrk_bad = int(non2xx_line.group(1)) if non2xx_line else 0
    # wrk's own count (statuses above 399) must agree with ours.
    ok = answers > 0 and other == 0 and socket_errors == 0 and wrk_bad == 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {
        "ok": ok,
        "rps": rps if ok else None,
        "p50_ms": pct(50) if ok else None,
        "p99_ms": pct(99) if ok else None,
        "answers": answers,
        "expected": expect,
        "unexpected": other,
        "socket_errors": socket_errors,
        "wrk_non_2xx_3xx": wrk_bad,
        "raw": out,
    }


def rate(r, scale=1):
    """A throughput cell: the figure, or why there is none."""
    if not r["ok"]:
        return (f"refused: {r['unexpected']} not {r['expected']}, {r['socket_errors']} socket errors, "
                f"{r['wrk_non_2xx_3xx']} non-2xx/3xx by wrk's count")
    return f"{r['rps'] * scale:,.0f}"


def latency(r):
    if not r["ok"]:
        return "—"
    return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms"


def bad(r):
    """The non-expected answers cell (every table has one)."""
    return f"{r['unexpected']} (+{r['socket_errors']} socket errors)" if r["socket_errors"] else str(r["unexpected"])


def disk_sync(directory, rounds=300, size=200):
    """What making a small append durable costs on `directory`'s disk, in ms (p50, p99): with
    `fdatasync` (the file's data, its size and the device's write cache) and with
    `sync_file_range` (what sled's flush issues: the pages are written to the device, but its
    cache is not flushed and a grown file's new size not committed)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    wait_write_wait = 1 | 2 | 4  # SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER
    fd, path = tempfile.mkstemp(dir=directory)
    out = {}
    try:
        offset = 0
        for name in ("fdatasync", "sync_file_range"):
            took = []
            for _ in range(rounds):
                os.write(fd, b"x" * size)
                start = time.perf_counter()
                if name == "fdatasync":
                    os.fdatasync(fd)
                elif libc.sync_file_range(fd, ctypes.c_longlong(offset), ctypes.c_longlong(size), wait_write_wait) != 0:
                    raise OSError(ctypes.get_errno(), "sync_file_range failed")
                took.append((time.perf_counter() - start) * 1000)
                offset += size
            took.sort()
            out[name] = {"p50": took[len(took) // 2], "p99": took[int(len(took) * 0.99) - 1]}
    finally:
        os.close(fd)
        os.unlink(path)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A private PostgreSQL cluster with the package's durable defaults (fsync and
    synchronous_commit on): a commit is on disk before statusgate acknowledges, as with sled."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise SystemExit("PostgreSQL is missing: apt-get install postgresql")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="statusgate-bench-pg-")
        user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if user:
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.drop = (lambda: (os.setgid(user.pw_gid), os.setuid(user.pw_uid))) if user else None
        subprocess.run([f"{self.bin}/initdb", "-D", f"{self.dir}/data", "--auth=trust", "--username=postgres"],
                       check=True, stdout=subprocess.DEVNULL, preexec_fn=self.drop, timeout=120)
        self.port = free_port()
        self.proc = subprocess.Popen([f"{self.bin}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port),
                                      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                                      "-c", "max_connections=200"],
                                     stdout=subprocess.DEVNULL, stderr=open(f"{self.dir}/log", "w"), preexec_fn=self.drop)
        deadline = time.time() + 60
        while self.psql("SELECT 1") is None:
            if time.time() > deadline:
                raise SystemExit("PostgreSQL did not start")
            time.sleep(0.2)
        self.version = self.psql("SHOW server_version")

    def psql(self, sql, db="postgres"):
        r = subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-X", "-A", "-t", "-c", sql], capture_output=True, text=True, timeout=60)
        return r.stdout.strip() if r.returncode == 0 else None

    def database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def server_config(work, port, mappings, settings="", drafts_per_hour=None):
    """A bench server's config: loopback only, data under `work`, every rate limit lifted (the
    figures are the service's, not its limiter's), then `settings` (YAML lines)."""
    budget = f"  drafts_per_hour: {drafts_per_hour}\n" if drafts_per_hour is not None else ""
    return (f"listen: 127.0.0.1:{port}\n"
            f"data_dir: {work}/data\n"
            f"mappings: {mappings}\n"
            f"public_url: http://127.0.0.1:{port}\n"
            "limits:\n"
            "  ingest: {per_second: 1000000, burst: 1000000}\n"
            "  public: {per_second: 1000000, burst: 1000000}\n"
            "  api: {per_second: 1000000, burst: 1000000}\n"
            + budget + settings)


def server_env(token, admin, storage_url=None, extra=None):
    """The environment of a bench server: its tokens, warnings only, sled unless `storage_url`."""
    env = {**os.environ, "STATUSGATE_ALERTMANAGER_TOKEN": token, "STATUSGATE_ADMIN_TOKEN": admin,
           "RUST_LOG": "warn", **(extra or {})}
    env.pop("STATUSGATE_STORAGE_URL", None)
    if storage_url:
        env["STATUSGATE_STORAGE_URL"] = storage_url
    return env


def serve(binary, config_path, env, log_path):
    """Starts `statusgate serve`; returns the process once it listens (its log appended to
    `log_path`, so a restarted server keeps one log)."""
    proc = subprocess.Popen([binary, "serve", "--config", config_path], env=env, stdout=subprocess.PIPE,
                            stderr=open(log_path, "a"), text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"statusgate did not start ({line.strip()}); see {log_path}")
    return proc
