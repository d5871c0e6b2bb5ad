"""Offline checks of the statusgate Helm chart.

Rendering and lint go through Helm's own Go SDK (helm-python-sdk, Helm v4, no binary, no network);
every built-in manifest is validated strictly against the newest Kubernetes schemas that
kubernetes-validate bundles. Run with scripts/helm-test.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "statusgate"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "statusgate"
NAMESPACE = "monitoring"
KUBE_VERSION = kv_utils.latest_version()

CONFIG_PATH = "/etc/statusgate/config.yaml"
DATA_DIR = "/var/lib/statusgate"
SECRETS_DIR = "/var/run/secrets/statusgate"
# Custom resources of the Prometheus operator: no bundled schema, checked structurally below.
CRD_GROUPS = {"monitoring.coreos.com"}
SECRET_ENV = {
    "STATUSGATE_ADMIN_TOKEN_FILE",
    "STATUSGATE_ALERTMANAGER_TOKEN_FILE",
    "STATUSGATE_PAGERDUTY_SECRETS_FILE",
    "STATUSGATE_SLACK_SIGNING_SECRET_FILE",
    "STATUSGATE_SLACK_BOT_TOKEN_FILE",
    "STATUSGATE_STORAGE_URL_FILE",
}
# Keys of DESIGN.md's configuration reference; the service rejects anything else.
CONFIG_KEYS = {
    "listen", "data_dir", "mappings", "templates", "public_url", "max_body", "shutdown_timeout",
    "auth", "sources", "grouping", "redaction", "limits", "storm", "watchdog", "reconcile",
    "page", "uptime", "slack", "delivery", "publishers", "smtp", "storage",
}
NESTED_KEYS = {
    "auth": {"tokens"},
    "auth.tokens[]": {"name", "role", "token_file"},
    "sources": {"alertmanager", "pagerduty"},
    "sources.alertmanager": {"token_file", "basic"},
    "sources.alertmanager.basic": {"username", "password_file"},
    "sources.pagerduty": {"secrets_file", "severity"},
    "grouping": {"group_wait", "resolve_wait", "flap", "min_update_interval", "draft_expiry"},
    "redaction": {"internal_domains", "patterns"},
    "limits": {"ingest", "public", "drafts_per_hour"},
    "storm": {"max_incidents", "window"},
    "watchdog": {"match", "interval"},
    "reconcile": {"interval", "alertmanagers"},
    "reconcile.alertmanagers[]": {"url", "basic_auth", "bearer_token_file"},
    "page": {"name", "logo_url", "accent_color", "links"},
    "uptime": {"major_outage", "partial_outage", "degraded_performance", "under_maintenance"},
    "slack": {"channel", "approvers", "api_url", "signing_secret_file", "bot_token_file", "channels",
              "approver_groups", "remind_after", "remind_interval", "nudge_after", "nudge_interval", "rate"},
    "delivery": {"backoff", "give_up_after"},
    "smtp": {"host", "port", "starttls", "from", "username", "password_file"},
    "storage": {"url", "url_file", "lease", "reserve"},
}
PUBLISHER_KEYS = {
    "statuspage": {"name", "type", "base_url", "page_id", "api_key_file", "components", "deliver_notifications"},
    "webhook": {"name", "type", "url", "secret_file"},
}


# ---------------------------------------------------------------------------------------------
# helpers


def load_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict | None = None) -> list[dict]:
    """Render with real Helm and return every manifest (NOTES.txt left out)."""
    with helm.Chart.load(CHART) as chart:
        out = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path, text in sorted(out.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def statefulset(docs: list[dict]) -> dict:
    return one(docs, "StatefulSet")


def workload(docs: list[dict]) -> dict:
    """The one object running the pods: a StatefulSet (sled) or a Deployment (PostgreSQL)."""
    found = by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment")
    assert len(found) == 1, f"expected one StatefulSet or Deployment, found {len(found)}"
    return found[0]


def pod_spec(docs: list[dict]) -> dict:
    return workload(docs)["spec"]["template"]["spec"]


def main_container(docs: list[dict]) -> dict:
    return next(c for c in pod_spec(docs)["containers"] if c["name"] == "statusgate")


def all_containers(docs: list[dict]) -> list[dict]:
    spec = pod_spec(docs)
    return spec["containers"] + spec.get("initContainers", [])


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def rendered_config(docs: list[dict]) -> dict:
    cm = one(docs, "ConfigMap", f"{RELEASE}-config")
    return yaml.safe_load(cm["data"]["config.yaml"])


def config_text(docs: list[dict]) -> str:
    return one(docs, "ConfigMap", f"{RELEASE}-config")["data"]["config.yaml"]


def volumes(docs: list[dict]) -> dict:
    return {v["name"]: v for v in pod_spec(docs).get("volumes", [])}


def claim_templates(docs: list[dict]) -> dict:
    return {t["metadata"]["name"]: t for t in workload(docs)["spec"].get("volumeClaimTemplates", [])}


def mount_for(container: dict, path: str) -> dict | None:
    """The mount that covers `path` (longest mount path wins)."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


def api_group(doc: dict) -> str:
    return doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""


def promtool() -> str | None:
    return shutil.which("promtool")


def skip_or_fail(msg: str) -> None:
    """A check this machine cannot run: a failure under STATUSGATE_REQUIRE_E2E=1 (CI),
    otherwise a skip that is said on stderr, so a run shows what it did not test."""
    if os.environ.get("STATUSGATE_REQUIRE_E2E") == "1":
        pytest.fail(f"STATUSGATE_REQUIRE_E2E=1 but {msg}")
    print(f"SKIPPED {msg}", file=sys.stderr)
    pytest.skip(msg)


def is_postgres(values: dict) -> bool:
    return values.get("storage", {}).get("engine") == "postgres"


ci_params = pytest.mark.parametrize("values_file", CI_FILES, ids=[p.stem for p in CI_FILES])
SLED_CI_FILES = [p for p in CI_FILES if not is_postgres(load_values(p))]
sled_ci_params = pytest.mark.parametrize("values_file", SLED_CI_FILES, ids=[p.stem for p in SLED_CI_FILES])


@pytest.fixture(scope="module")
def all_on() -> list[dict]:
    return render(load_values(CHART / "ci" / "all-on-values.yaml"))


@pytest.fixture(scope="module")
def default() -> list[dict]:
    return render({})


# ---------------------------------------------------------------------------------------------
# render, lint, schemas


def test_ci_values_files_follow_the_chart_testing_convention():
    names = {p.name for p in CI_FILES}
    assert {"default-values.yaml", "all-on-values.yaml", "git-sync-values.yaml"} <= names
    assert load_values(CHART / "ci" / "default-values.yaml") == {}


@ci_params
def test_lint_reports_no_errors(values_file):
    report = helm.lint(CHART, load_values(values_file) or None, strict=True, namespace=NAMESPACE)
    errors = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not errors, report


@ci_params
def test_values_files_pass_the_values_schema(values_file):
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(load_values(values_file))


@ci_params
def test_every_builtin_manifest_validates_strictly(values_file):
    docs = render(load_values(values_file))
    assert docs
    for doc in docs:
        if api_group(doc) in CRD_GROUPS:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kv_utils.SchemaNotFoundError as e:  # a built-in kind must have a schema
            pytest.fail(f"{name}: {e.message}")
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name} invalid at {'.'.join(map(str, e.path))}: {e.message}")


def test_schema_refuses_wrong_types_and_unknown_keys():
    with helm.Chart.load(CHART) as chart:
        for bad in (
            {"replicaCount": "one"},                       # wrong type
            {"replicaCont": 1},                            # unknown top-level key
            {"config": {"grouping": {"group_wiat": "1m"}}},  # misspelt service setting
            {"secrets": {"adminToken": {"name": "x", "key": "token", "value": "s3cret"}}},  # no inlined values
            {"mappings": {"source": "git"}},               # not a known source
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(bad)
        # Helm enforces the schema on render (and install) too.
        with pytest.raises(helm.HelmError):
            chart.render({"replicaCont": 1}, name=RELEASE, namespace=NAMESPACE)


def test_more_than_one_replica_is_refused():
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"replicaCount": 2})
    assert statefulset(render({}))["spec"]["replicas"] == 1
    assert statefulset(render({"replicaCount": 0}))["spec"]["replicas"] == 0


# ---------------------------------------------------------------------------------------------
# the service in the pod


@ci_params
def test_listens_on_all_interfaces_on_the_port_the_service_and_probes_use(values_file):
    docs = render(load_values(values_file))
    c = main_container(docs)
    assert env_of(c)["STATUSGATE_LISTEN"] == "0.0.0.0:8080"
    assert rendered_config(docs)["listen"] == "0.0.0.0:8080"
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in c["ports"]
    svc = one(docs, "Service", RELEASE)
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["selector"].items() <= workload(docs)["spec"]["template"]["metadata"]["labels"].items()
    assert c["args"] == ["serve", "--config", CONFIG_PATH]


@ci_params
def test_probes_use_healthz_and_readyz(values_file):
    c = main_container(render(load_values(values_file)))
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


@ci_params
def test_config_file_is_mounted_where_the_args_point(values_file):
    docs = render(load_values(values_file))
    m = mount_for(main_container(docs), CONFIG_PATH)
    assert m and m["mountPath"] == CONFIG_PATH and m["subPath"] == "config.yaml"
    assert volumes(docs)[m["name"]]["configMap"]["name"] == f"{RELEASE}-config"


@ci_params
def test_mapping_files_are_a_directory_mount_without_subpath(values_file):
    values = load_values(values_file)
    docs = render(values)
    mappings = rendered_config(docs)["mappings"]
    c = main_container(docs)
    m = mount_for(c, mappings)
    assert m is not None, f"nothing mounted at {mappings}"
    assert "subPath" not in m and "subPathExpr" not in m, "subPath mounts never see updates"
    vol = volumes(docs)[m["name"]]
    source = values.get("mappings", {}).get("source", "inline")
    if source == "gitSync":
        assert "emptyDir" in vol
        assert mappings.startswith(m["mountPath"] + "/mappings")  # through git-sync's symlink
    else:
        assert m["mountPath"] == mappings == "/etc/statusgate/mappings"
        expected = values["mappings"]["existingConfigMap"] if source == "existingConfigMap" else f"{RELEASE}-mappings"
        assert vol["configMap"]["name"] == expected
    # No container mounts the mapping volume through subPath anywhere.
    for container in all_containers(docs):
        for mnt in container.get("volumeMounts", []):
            if mnt["name"] == m["name"]:
                assert "subPath" not in mnt


def test_mappings_configmap_is_managed_only_for_inline_source(default, all_on):
    assert one(default, "ConfigMap", f"{RELEASE}-mappings")
    assert not [d for d in by_kind(all_on, "ConfigMap") if d["metadata"]["name"].endswith("-mappings")]


@ci_params
def test_every_container_is_hardened(values_file):
    docs = render(load_values(values_file))
    pod = pod_spec(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in all_containers(docs):
        sc = c.get("securityContext", {})
        assert sc.get("runAsNonRoot") is True, c["name"]
        assert sc.get("readOnlyRootFilesystem") is True, c["name"]
        assert sc.get("allowPrivilegeEscalation") is False, c["name"]
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), c["name"]
        assert sc.get("seccompProfile") == {"type": "RuntimeDefault"}, c["name"]
        assert sc.get("privileged") in (None, False), c["name"]
        assert sc.get("runAsUser", 1) != 0, c["name"]


@ci_params
def test_writable_paths_are_emptydir_or_the_data_volume(values_file):
    docs = render(load_values(values_file))
    vols, claims = volumes(docs), claim_templates(docs)
    for c in all_containers(docs):
        for m in c.get("volumeMounts", []):
            if m.get("readOnly"):
                continue
            ok = m["name"] in claims or "emptyDir" in vols.get(m["name"], {}) or \
                "persistentVolumeClaim" in vols.get(m["name"], {})
            assert ok, f"{c['name']} writes to {m['mountPath']} on volume {m['name']}"
    tmp = mount_for(main_container(docs), "/tmp")
    assert tmp and "emptyDir" in vols[tmp["name"]]


@sled_ci_params
def test_data_dir_is_on_a_persistent_volume_claim(values_file):
    docs = render(load_values(values_file))
    assert rendered_config(docs)["data_dir"] == DATA_DIR
    m = mount_for(main_container(docs), DATA_DIR)
    assert m and m["mountPath"] == DATA_DIR and not m.get("readOnly")
    claim = claim_templates(docs)[m["name"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    # Deleting the release must not take the audit log with it.
    assert statefulset(docs)["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"


def test_existing_claim_replaces_the_claim_template():
    docs = render({"persistence": {"existingClaim": "restored-data"}})
    assert not claim_templates(docs)
    m = mount_for(main_container(docs), DATA_DIR)
    assert volumes(docs)[m["name"]]["persistentVolumeClaim"]["claimName"] == "restored-data"


@ci_params
def test_service_links_are_off_so_no_stray_statusgate_variables_appear(values_file):
    # A Service named "statusgate" would otherwise inject STATUSGATE_PORT=tcp://… into the pod.
    assert pod_spec(render(load_values(values_file)))["enableServiceLinks"] is False


@ci_params
def test_pod_gets_no_kubernetes_api_token(values_file):
    assert pod_spec(render(load_values(values_file)))["automountServiceAccountToken"] is False


# ---------------------------------------------------------------------------------------------
# secrets


@ci_params
def test_secrets_only_by_reference(values_file):
    docs = render(load_values(values_file))
    assert not by_kind(docs, "Secret"), "the chart must never create a Secret"
    c = main_container(docs)
    vols = volumes(docs)
    for e in c.get("env", []):
        name = e["name"]
        if re.search(r"(TOKEN|SECRET|PASSWORD|KEY)S?$", name):
            pytest.fail(f"{name} carries a secret value inline")
        if name.endswith("_FILE"):
            m = mount_for(c, e["value"])
            assert e["value"].startswith(SECRETS_DIR + "/") and m, name
            assert "secret" in vols[m["name"]]
    cfg = config_text(docs)
    for path in re.findall(r"_file: (\S+)", cfg):
        m = mount_for(c, path)
        assert path.startswith(SECRETS_DIR + "/") and m and "secret" in vols[m["name"]], path
    assert not re.search(r"^\s*(token|password|secret|api_key|secrets):", cfg, re.M)


def test_existing_secrets_are_wired_to_the_service_variables(all_on):
    values = load_values(CHART / "ci" / "all-on-values.yaml")
    c = main_container(all_on)
    env = env_of(c)
    vols = volumes(all_on)
    wanted = {
        "STATUSGATE_ADMIN_TOKEN_FILE": values["secrets"]["adminToken"],
        "STATUSGATE_ALERTMANAGER_TOKEN_FILE": values["secrets"]["alertmanagerToken"],
        "STATUSGATE_PAGERDUTY_SECRETS_FILE": values["secrets"]["pagerdutySecrets"],
        "STATUSGATE_SLACK_SIGNING_SECRET_FILE": values["secrets"]["slackSigningSecret"],
        "STATUSGATE_SLACK_BOT_TOKEN_FILE": values["secrets"]["slackBotToken"],
    }
    for var, ref in wanted.items():
        path = env[var]
        m = mount_for(c, path)
        secret = vols[m["name"]]["secret"]
        assert secret["secretName"] == ref["name"]
        assert path == f"{m['mountPath']}/{ref['key']}"
        assert {"key": ref["key"], "path": ref["key"]} in secret["items"]
    cfg = rendered_config(all_on)
    hosted = next(p for p in cfg["publishers"] if p["type"] == "statuspage")
    m = mount_for(c, hosted["api_key_file"])
    assert vols[m["name"]]["secret"]["secretName"] == "statusgate-statuspage"
    hook = next(p for p in cfg["publishers"] if p["type"] == "webhook")
    assert vols[mount_for(c, hook["secret_file"])["name"]]["secret"]["secretName"] == "statusgate-webhooks"


def test_no_secret_env_by_default(default):
    assert not SECRET_ENV & set(env_of(main_container(default)))


# ---------------------------------------------------------------------------------------------
# rendered config


@ci_params
def test_rendered_config_uses_only_documented_keys(values_file):
    cfg = rendered_config(render(load_values(values_file)))
    assert set(cfg) <= CONFIG_KEYS, set(cfg) - CONFIG_KEYS

    def check(node, path):
        if path in NESTED_KEYS and isinstance(node, dict):
            assert set(node) <= NESTED_KEYS[path], (path, set(node) - NESTED_KEYS[path])
            for k, v in node.items():
                check(v, f"{path}.{k}")
        elif isinstance(node, list) and f"{path}[]" in NESTED_KEYS:
            for item in node:
                assert set(item) <= NESTED_KEYS[f"{path}[]"], path
                for k, v in item.items():
                    check(v, f"{path}[].{k}")

    for key, value in cfg.items():
        check(value, key)
    for p in cfg.get("publishers", []):
        assert set(p) <= PUBLISHER_KEYS[p["type"]], p


def test_default_config_is_minimal(default):
    assert rendered_config(default) == {
        "listen": "0.0.0.0:8080",
        "data_dir": DATA_DIR,
        "mappings": "/etc/statusgate/mappings",
        "templates": "/usr/share/statusgate/templates",
    }


def checksum(docs: list[dict]) -> str:
    return statefulset(docs)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_config_changes_roll_the_pod_but_mapping_changes_do_not():
    mapping = "components:\n  - id: api\n    name: Public API\n"
    base = render({"mappings": {"files": {"core.yaml": mapping}}})
    new_config = render({"mappings": {"files": {"core.yaml": mapping}},
                         "config": {"public_url": "https://status.example.com"}})
    new_mappings = render({"mappings": {"files": {"core.yaml": mapping + "  - id: web\n    name: Web\n"}}})
    assert checksum(base) != checksum(new_config)
    assert checksum(base) == checksum(new_mappings)
    # The mappings did change; only the pod template did not.
    assert one(base, "ConfigMap", f"{RELEASE}-mappings")["data"] != \
        one(new_mappings, "ConfigMap", f"{RELEASE}-mappings")["data"]
    assert one(new_mappings, "ConfigMap", f"{RELEASE}-mappings")["data"]["core.yaml"].startswith("components:")


# ---------------------------------------------------------------------------------------------
# git-sync


def test_git_sync_fetches_before_start_and_keeps_syncing():
    docs = render(load_values(CHART / "ci" / "git-sync-values.yaml"))
    pod = pod_spec(docs)
    init = {c["name"]: c for c in pod["initContainers"]}
    side = {c["name"]: c for c in pod["containers"]}
    assert "--one-time" in init["git-sync-init"]["args"]
    assert "--one-time" not in side["git-sync"]["args"]
    for c in (init["git-sync-init"], side["git-sync"]):
        args = c["args"]
        assert "--repo=git@git.example.com:platform/status-mappings.git" in args
        assert "--link=mappings" in args
        assert "--ssh-key-file=/etc/git-secret/ssh" in args
        assert "--ssh-known-hosts-file=/etc/git-secret/known_hosts" in args
        assert env_of(c)["HOME"] == "/tmp"
    cfg = rendered_config(docs)
    assert cfg["mappings"] == "/var/lib/git-sync/mappings/statusgate/mappings"
    assert volumes(docs)["git-secret"]["secret"]["secretName"] == "status-mappings-deploy-key"
    assert not by_kind(docs, "ConfigMap") or all(
        not d["metadata"]["name"].endswith("-mappings") for d in by_kind(docs, "ConfigMap"))
    # statusgate itself only reads the checkout.
    assert mount_for(main_container(docs), cfg["mappings"])["readOnly"] is True


def test_mapping_source_needs_its_setting():
    with helm.Chart.load(CHART) as chart:
        for bad in ({"mappings": {"source": "existingConfigMap"}}, {"mappings": {"source": "gitSync"}}):
            with pytest.raises(helm.HelmError):
                chart.render(bad, name=RELEASE, namespace=NAMESPACE)


# ---------------------------------------------------------------------------------------------
# exposure


def test_ingress_serves_page_and_webhooks_on_two_hosts_without_management_api(all_on):
    ingresses = {i["metadata"]["name"]: i for i in by_kind(all_on, "Ingress")}
    assert set(ingresses) == {f"{RELEASE}-public", f"{RELEASE}-webhooks"}
    hosts = {r["host"] for i in ingresses.values() for r in i["spec"]["rules"]}
    assert hosts == {"status.example.com", "hooks.example.com"}
    for ing in ingresses.values():
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                assert not p["path"].startswith(("/api/v1", "/metrics")), p
                assert not (p["path"] == "/" and p["pathType"] == "Prefix"), "a / prefix would expose everything"
                assert p["backend"]["service"] == {"name": RELEASE, "port": {"name": "http"}}
    public_paths = {p["path"] for r in ingresses[f"{RELEASE}-public"]["spec"]["rules"] for p in r["http"]["paths"]}
    assert {"/", "/index.html", "/assets", "/api/v2", "/history.atom"} <= public_paths  # the page needs its stylesheet
    webhook_paths = [p["path"] for r in ingresses[f"{RELEASE}-webhooks"]["spec"]["rules"] for p in r["http"]["paths"]]
    assert webhook_paths == ["/webhooks"]
    assert "whitelist-source-range" in str(ingresses[f"{RELEASE}-webhooks"]["metadata"]["annotations"])
    assert "whitelist-source-range" not in str(ingresses[f"{RELEASE}-public"]["metadata"].get("annotations", {}))


def test_management_api_is_exposed_only_when_asked(default):
    assert not by_kind(default, "Ingress")
    docs = render({"ingress": {"api": {"enabled": True, "hosts": ["statusgate.internal.example.com"]}}})
    (ing,) = by_kind(docs, "Ingress")
    assert [p["path"] for p in ing["spec"]["rules"][0]["http"]["paths"]] == ["/api/v1"]


def test_network_policy_admits_the_http_port_from_the_listed_peers(all_on):
    np = one(all_on, "NetworkPolicy")
    (rule,) = np["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(rule["from"]) == 2
    assert "Egress" in np["spec"]["policyTypes"]
    assert any(p.get("port") == 53 for r in np["spec"]["egress"] for p in r.get("ports", []))


def test_disruption_budget_never_blocks_drains(all_on):
    pdb = one(all_on, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


# ---------------------------------------------------------------------------------------------
# monitoring


def test_monitoring_objects_follow_values_not_cluster_capabilities(default, all_on):
    assert not by_kind(default, "ServiceMonitor") and not by_kind(default, "PrometheusRule")
    # Offline rendering knows no monitoring.coreos.com API, yet values alone switch them on.
    assert by_kind(all_on, "ServiceMonitor") and by_kind(all_on, "PrometheusRule")
    for tpl in (CHART / "templates").iterdir():
        actions = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", tpl.read_text(), flags=re.S)  # comments aside
        assert ".Capabilities" not in actions, tpl.name


def test_service_monitor_selects_the_service_and_names_its_port(all_on):
    sm = one(all_on, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = sm["spec"]["selector"]
    services = by_kind(all_on, "Service")

    def selected(svc):
        labels = svc["metadata"]["labels"]
        if not selector["matchLabels"].items() <= labels.items():
            return False
        for expr in selector.get("matchExpressions", []):
            if expr["operator"] == "DoesNotExist" and expr["key"] in labels:
                return False
        return True

    chosen = [s for s in services if selected(s)]
    assert [s["metadata"]["name"] for s in chosen] == [RELEASE], "exactly the main Service, scraped once"
    port_names = {p["name"] for p in chosen[0]["spec"]["ports"]}
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_prometheus_rules_are_well_formed(all_on, tmp_path):
    rule = one(all_on, "PrometheusRule")
    groups = rule["spec"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    for r in rules:
        assert ("alert" in r) != ("record" in r), r
        assert isinstance(r.get("expr"), str) and r["expr"].strip(), r
    exprs = " ".join(r["expr"] for r in rules)
    assert 'statusgate_publish_attempts_total{outcome="failure"' in exprs
    assert "statusgate_draft_approval_wait_seconds" in exprs
    assert re.search(r"statusgate_storm_breaker_open\{[^}]*\}\) == 1", exprs)
    assert re.search(r"statusgate_watchdog_silent\{[^}]*\}\) == 1", exprs)
    assert f'namespace="{NAMESPACE}"' in exprs
    if promtool() is None:
        skip_or_fail("promtool not on PATH (apt-get install prometheus): structural checks only")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# the README's wiring example and the image recipe


def readme_block(marker: str) -> str:
    text = (CHART / "README.md").read_text()
    m = re.search(re.escape(marker) + r"\s*```(?:yaml|yml)\n(.*?)```", text, re.S)
    assert m, f"README has no yaml block after {marker}"
    return m.group(1)


def test_readme_alertmanager_example_matches_the_chart(tmp_path, default):
    am = yaml.safe_load(readme_block("<!-- alertmanager.yml -->"))
    receiver = next(r for r in am["receivers"] if r.get("webhook_configs"))
    (hook,) = receiver["webhook_configs"]
    svc = one(default, "Service", RELEASE)
    assert hook["url"] == f"http://{RELEASE}.{NAMESPACE}.svc:{svc['spec']['ports'][0]['port']}/webhooks/alertmanager"
    assert hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["credentials_file"]
    amtool = shutil.which("amtool")
    if amtool is None:
        skip_or_fail("amtool not on PATH (apt-get install prometheus-alertmanager): structural checks only")
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(am))
    result = subprocess.run([amtool, "check-config", str(cfg)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_the_documented_recipe():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM rust:1-bookworm AS build$", text, re.M)
    assert "cargo build --release --locked" in text
    assert re.search(r"^FROM gcr.io/distroless/cc-debian12:nonroot$", text, re.M)
    for line in ("USER nonroot", 'ENTRYPOINT ["/usr/local/bin/statusgate"]', 'CMD ["serve"]',
                 "ENV STATUSGATE_LISTEN=0.0.0.0:8080"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    for dest in ("/usr/local/bin/statusgate", "/usr/share/statusgate/templates", "/usr/share/statusgate/mappings"):
        assert dest in text
    # Path variables in the image would override the chart's config file.
    assert not re.search(r"^ENV STATUSGATE_(MAPPINGS|TEMPLATES|DATA_DIR)", text, re.M)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "target/" in ignored and "data/" in ignored


# ---------------------------------------------------------------------------------------------
# the rendered config against the real service


def statusgate_bin() -> Path:
    path = Path(os.environ.get("STATUSGATE_BIN", "target/debug/statusgate"))
    return path if path.is_absolute() else REPO / path


def dummy_secret(ident: str, whsec: set[str]) -> str:
    if ident in whsec:  # Standard Webhooks keys have a format of their own
        return "whsec_" + base64.b64encode(b"k" * 32).decode()
    if ident == "storage-url":  # never connected to: `check` reads it, nothing more
        return f"postgres://statusgate:dummy-{ident}@postgres.{NAMESPACE}.svc:5432/statusgate"
    return f"dummy-{ident}-0123456789abcdef"


def need_binary(what: str) -> Path:
    binary = statusgate_bin()
    missing = [p for p in (binary, REPO / "mappings", REPO / "templates") if not p.exists()]
    if missing:
        skip_or_fail(f"{what} not run: {', '.join(map(str, missing))} missing (build with `cargo build`)")
    return binary


def outside_the_pod(docs: list[dict], c: dict, vols: dict, tmp_path: Path, secret) -> tuple[Path, dict]:
    """The container's config file and environment on this machine: every mounted secret laid
    out under tmp_path as the kubelet would (its value from secret(ident)), paths rewritten."""
    secrets_root = tmp_path / "secrets"
    for m in c.get("volumeMounts", []):
        source = vols.get(m["name"], {}).get("secret")
        if not source:
            continue
        ident = Path(m["mountPath"]).name
        for item in source["items"]:
            f = secrets_root / ident / item["path"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(secret(ident) + "\n")

    def outside(path: str) -> str:
        return path.replace(SECRETS_DIR, str(secrets_root))

    config = tmp_path / "config.yaml"
    config.write_text(outside(config_text(docs)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGATE_")}
    env.update({e["name"]: outside(e["value"]) for e in c.get("env", []) if "value" in e})
    env.update({
        "STATUSGATE_MAPPINGS": str(REPO / "mappings"),
        "STATUSGATE_DATA_DIR": str(tmp_path / "data"),
        "STATUSGATE_TEMPLATES": str(REPO / "templates"),
    })
    for var in SECRET_ENV & set(env):
        assert Path(env[var]).is_file(), var
    return config, env


@ci_params
def test_statusgate_check_accepts_the_rendered_config(values_file, tmp_path):
    binary = need_binary("statusgate check")
    docs = render(load_values(values_file))
    whsec = {f"publisher-{p['name']}" for p in rendered_config(docs).get("publishers", []) if p["type"] == "webhook"}
    config, env = outside_the_pod(docs, main_container(docs), volumes(docs), tmp_path,
                                  lambda ident: dummy_secret(ident, whsec))
    result = subprocess.run([str(binary), "check", "--config", str(config)], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, f"{config.read_text()}\n---\n{result.stdout}{result.stderr}"
