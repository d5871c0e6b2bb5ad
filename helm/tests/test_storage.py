"""The chart's storage modes: sled (one pod, a StatefulSet and its claim) or PostgreSQL
(several identical replicas in a Deployment). Real Helm as in test_chart.py, whose helpers
these tests share, plus the rendered pods run against a real PostgreSQL where one is installed.
Run with scripts/helm-test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import helm_python as helm
import pytest

from test_chart import (
    CHART, DATA_DIR, NAMESPACE, RELEASE, SECRETS_DIR, by_kind, claim_templates, config_text, dummy_secret,
    env_of, is_postgres, load_values, main_container, mount_for, need_binary, one, outside_the_pod, pod_spec,
    render, rendered_config, skip_or_fail, statefulset, volumes, workload,
)


@pytest.fixture(scope="module")
def default() -> list[dict]:
    return render({})


PG_SECRET = {"name": "statusgate-postgres", "key": "url"}


def postgres(replicas: int = 3, **extra) -> dict:
    return {"replicaCount": replicas, "storage": {"engine": "postgres", "existingSecret": PG_SECRET}, **extra}


def schema_error(values: dict) -> str:
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError) as e:
            chart.validate_schema(values)
    return str(e.value)


def test_ci_values_cover_postgres_mode():
    assert is_postgres(load_values(CHART / "ci" / "postgres-values.yaml"))
    assert load_values(CHART / "ci" / "postgres-values.yaml")["replicaCount"] > 1


def test_several_replicas_on_sled_are_refused_naming_postgres():
    for values in ({"replicaCount": 2}, {"replicaCount": 2, "storage": {"engine": "sled"}}):
        msg = schema_error(values)
        # Both ways out are named: fewer replicas, or PostgreSQL.
        assert "/replicaCount" in msg and "maximum" in msg, msg
        assert "/storage/engine" in msg and "postgres" in msg, msg
    # PostgreSQL lifts the limit.
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(postgres(5))
    assert workload(render(postgres(5)))["spec"]["replicas"] == 5


def test_postgres_without_a_secret_is_refused():
    for storage in ({"engine": "postgres"}, {"engine": "postgres", "existingSecret": {"name": "", "key": "url"}}):
        msg = schema_error({"storage": storage})
        assert "/storage/existingSecret/name" in msg, msg
        with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError):
            chart.render({"storage": storage}, name=RELEASE, namespace=NAMESPACE)
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"storage": {"engine": "mysql"}})
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(postgres(lease="soon"))


def test_postgres_replicas_are_a_deployment_without_any_volume_claim():
    docs = render(postgres(3))
    deploy = one(docs, "Deployment", RELEASE)
    assert deploy["spec"]["replicas"] == 3
    assert not by_kind(docs, "StatefulSet") and not by_kind(docs, "PersistentVolumeClaim")
    assert "volumeClaimTemplates" not in deploy["spec"]
    assert not [v for v in volumes(docs).values() if "persistentVolumeClaim" in v]
    # No state on disk: no data_dir in the config and nothing mounted there.
    assert "data_dir" not in rendered_config(docs)
    assert mount_for(main_container(docs), DATA_DIR) is None
    # A restored claim is a sled thing; PostgreSQL mode ignores it.
    docs = render(postgres(3, persistence={"existingClaim": "restored-data"}))
    assert not [v for v in volumes(docs).values() if "persistentVolumeClaim" in v]
    # Rollouts start a new pod before stopping an old one; the headless Service is the StatefulSet's.
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert [s["metadata"]["name"] for s in by_kind(docs, "Service")] == [RELEASE]


def test_postgres_url_is_read_from_the_mounted_secret():
    docs = render(postgres(3, storage={"engine": "postgres", "existingSecret": PG_SECRET, "lease": "20s"}))
    c = main_container(docs)
    path = env_of(c)["STATUSGATE_STORAGE_URL_FILE"]
    assert path == f"{SECRETS_DIR}/storage-url/url"
    m = mount_for(c, path)
    assert m["readOnly"] is True
    secret = volumes(docs)[m["name"]]["secret"]
    assert secret["secretName"] == "statusgate-postgres"
    assert secret["items"] == [{"key": "url", "path": "url"}]
    storage = rendered_config(docs)["storage"]
    assert storage == {"url_file": path, "lease": "20s"}  # never the URL itself
    assert "postgres://" not in config_text(docs)


def test_sled_installs_keep_their_statefulset_claim_and_no_storage_secret(default):
    # What an upgrade of an existing install must find unchanged: kind, name, claim template.
    sts = statefulset(default)
    assert sts["metadata"]["name"] == RELEASE
    assert sts["spec"]["serviceName"] == f"{RELEASE}-headless"
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert set(claim_templates(default)) == {"data"}
    assert not by_kind(default, "Deployment")
    assert "STATUSGATE_STORAGE_URL_FILE" not in env_of(main_container(default))
    assert "storage" not in rendered_config(default)
    assert rendered_config(render({"storage": {"reserve": "32MiB"}}))["storage"] == {"reserve": "32MiB"}


def test_migration_job_runs_before_upgrades_with_the_new_image_only_when_asked(default):
    assert not by_kind(default, "Job") and not by_kind(render(postgres(3)), "Job")
    assert not by_kind(render({"storage": {"migrateJob": {"enabled": True}}}), "Job")  # sled has no migrations
    docs = render(postgres(3, storage={"engine": "postgres", "existingSecret": PG_SECRET,
                                       "migrateJob": {"enabled": True}}))
    job = one(docs, "Job", f"{RELEASE}-migrate")
    # pre-upgrade only: at install the ServiceAccount does not exist yet, and replicas migrate on start.
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"] == main_container(docs)["image"] and c["args"] == ["migrate"]
    path = env_of(c)["STATUSGATE_STORAGE_URL_FILE"]
    vol = {v["name"]: v for v in spec["volumes"]}[mount_for(c, path)["name"]]
    assert vol["secret"]["secretName"] == PG_SECRET["name"] and path.endswith("/" + PG_SECRET["key"])
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and spec["restartPolicy"] == "Never"
    # The Service must never route requests to it.
    svc = one(docs, "Service", RELEASE)
    assert not svc["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()


def spread(docs: list[dict]) -> list[dict]:
    return pod_spec(docs).get("topologySpreadConstraints", [])


def test_several_replicas_get_a_disruption_budget_and_a_spread_across_nodes():
    docs = render(postgres(3))
    pod_labels = workload(docs)["spec"]["template"]["metadata"]["labels"]
    pdb = one(docs, "PodDisruptionBudget", RELEASE)
    # maxUnavailable 1: a drain evicts one pod at a time and never blocks.
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (tsc,) = spread(docs)
    assert tsc["topologyKey"] == "kubernetes.io/hostname" and tsc["maxSkew"] == 1
    assert tsc["whenUnsatisfiable"] == "ScheduleAnyway"  # fewer nodes than replicas still schedules
    assert tsc["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_one_replica_gets_no_budget_or_spread_unless_asked(default):
    assert not by_kind(default, "PodDisruptionBudget") and not spread(default)
    assert not by_kind(render(postgres(1)), "PodDisruptionBudget")
    assert by_kind(render({"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")


def test_budget_and_spread_can_be_overridden():
    assert not by_kind(render(postgres(3, podDisruptionBudget={"enabled": False})), "PodDisruptionBudget")
    assert not spread(render(postgres(3, topologySpreadConstraints=[])))
    zones = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
              "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "statusgate"}}}]
    assert spread(render(postgres(3, topologySpreadConstraints=zones))) == zones


# ---------------------------------------------------------------------------------------------
# the rendered pods against a real PostgreSQL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed), as the service's own tests use."""
    found = sorted(p / "bin" for p in Path("/usr/lib/postgresql").glob("*")
                   if (p / "bin" / "postgres").exists() and (p / "bin" / "initdb").exists())
    return found[-1] if found else None


def as_postgres_user():
    """PostgreSQL refuses to run as root: root runs it as the `postgres` user."""
    if os.geteuid() != 0:
        return {}
    import pwd
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        skip_or_fail("running as root and there is no `postgres` user: rendered pods not run")
    return {"user": pw.pw_uid, "group": pw.pw_gid}


class Cluster:
    def __init__(self, bin_dir: Path, port: int):
        self.bin, self.port = bin_dir, port

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


@pytest.fixture(scope="module")
def pg_cluster():
    bin_dir = postgres_bin()
    if bin_dir is None:
        skip_or_fail("no PostgreSQL in /usr/lib/postgresql (apt-get install postgresql): rendered pods not run")
    user = as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="statusgate-chart-pg-"))
    if user:
        os.chown(root, user["user"], user["group"])
    data = root / "data"
    init = subprocess.run([str(bin_dir / "initdb"), "--auth=trust", "--username=postgres", "--encoding=UTF8",
                           "--no-sync", "-D", str(data)], capture_output=True, text=True, timeout=120, **user)
    assert init.returncode == 0, init.stderr
    port = free_port()
    with open(root / "postgres.log", "w") as log:
        server = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                                   "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                                   "-c", "fsync=off"], stdout=subprocess.DEVNULL, stderr=log, **user)
    cluster = Cluster(bin_dir, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                cluster.psql("SELECT 1")
                break
            except AssertionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"postgres did not start: {(root / 'postgres.log').read_text()}")
                time.sleep(0.1)
        yield cluster
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_rendered_postgres_pods_migrate_and_serve_from_one_database(pg_cluster, tmp_path):
    """The postgres CI values as Kubernetes would run them: the migration Job's container, then
    two replicas of the Deployment's container, each with the URL only in the mounted file."""
    binary = need_binary("rendered PostgreSQL pods")
    pg_cluster.psql("CREATE DATABASE chart_replicas")
    # A password in the URL, as in production; trust authentication ignores it.
    url = f"postgres://postgres:not-checked@127.0.0.1:{pg_cluster.port}/chart_replicas"
    values = load_values(CHART / "ci" / "postgres-values.yaml")
    assert values["replicaCount"] >= 2
    docs = render(values)

    def secret(ident: str) -> str:
        return url if ident == "storage-url" else dummy_secret(ident, set())

    job = one(docs, "Job")["spec"]["template"]["spec"]
    (jc,) = job["containers"]
    _, env = outside_the_pod(docs, jc, {v["name"]: v for v in job["volumes"]}, tmp_path / "job", secret)
    for expected in ("migrated from version 0", "nothing to do"):  # the second run finds nothing to do
        result = subprocess.run([str(binary), *jc["args"]], env=env, capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
        assert result.returncode == 0 and expected in result.stderr, result.stderr

    c = main_container(docs)
    replicas = []
    try:
        for i in range(2):
            config, env = outside_the_pod(docs, c, volumes(docs), tmp_path / f"pod-{i}", secret)
            assert "postgres://" not in config.read_text()
            port = free_port()
            env["STATUSGATE_LISTEN"] = f"127.0.0.1:{port}"
            args = [a.replace("/etc/statusgate/config.yaml", str(config)) for a in c["args"]]
            log = open(tmp_path / f"pod-{i}.log", "w")
            replicas.append((port, log, subprocess.Popen([str(binary), *args], env=env, stdout=log,
                                                         stderr=subprocess.STDOUT, cwd=tmp_path / f"pod-{i}")))
        for port, log, proc in replicas:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, body = get_json(f"http://127.0.0.1:{port}/readyz")
                    if status == 200:
                        break
                except (OSError, ValueError):
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
                time.sleep(0.2)
            assert body["ready"] is True and body["checks"]["storage"]["ok"] is True, body
        # Both replicas keep their state in the one database and nothing on disk.
        assert pg_cluster.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
                               "chart_replicas") != "0"
        for i in range(2):
            assert not (tmp_path / f"pod-{i}" / "data").exists()
    finally:
        for _, log, proc in replicas:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            log.close()
