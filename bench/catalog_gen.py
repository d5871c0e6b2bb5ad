"""The 10,000-route catalog of the catalog benchmarks, as a statusgate mapping file and as the
equivalent Alertmanager configuration, from one list of routes.

200 components (Alertmanager: one receiver each); routes mixing equality, negative and
regex matchers, as large catalogs written by many teams look. Route r sends to component
r % 200. `benches/catalog.rs` loads the mapping file written here when
STATUSGATE_BENCH_CATALOG names it, and otherwise builds the same text itself.
"""

ROUTES = 10_000
COMPONENTS = 200


def matchers(r):
    """The matchers of route r, in Alertmanager's (and statusgate's) matcher syntax."""
    return [
        [f'service="svc-{r}"', 'env="prod"'],
        [f'service="svc-{r}"', 'severity=~"critical|warning"'],
        [f'team="team-{r % 50}"', f'alertname="Alert{r}"', 'env!="staging"'],
        [f'service=~"svc-{r}-(api|worker)"', 'env="prod"'],
        [f'job="job-{r}"', 'instance!~"canary-.*"'],
    ][r % 5]


def statusgate_yaml(routes=ROUTES):
    """The mapping file; byte for byte what benches/catalog.rs builds."""
    out = ["components:\n"]
    for c in range(COMPONENTS):
        out.append(f"  - {{id: comp-{c}, name: Component {c}, group: Group {c % 12}}}\n")
    out.append("routes:\n")
    for r in range(routes):
        m = "[" + ", ".join(f"'{x}'" for x in matchers(r)) + "]"
        out.append(f"  - name: route-{r}\n    match: {m}\n    components: [comp-{r % COMPONENTS}]\n"
                   "    status: {critical: major_outage, warning: degraded_performance}\n")
    return "".join(out)


def alertmanager_yaml(routes=ROUTES):
    """The same routes as an Alertmanager routing tree: one child route per statusgate route,
    in the same order, first match wins (no `continue`), to its component's receiver.
    Unmatched alerts go to the root's receiver, as unmapped ones go nowhere in statusgate."""
    out = ["route:\n  receiver: unmapped\n  routes:\n"]
    for r in range(routes):
        m = "[" + ", ".join(f"'{x}'" for x in matchers(r)) + "]"
        out.append(f"    - receiver: comp-{r % COMPONENTS}\n      matchers: {m}\n")
    out.append("receivers:\n  - name: unmapped\n")
    for c in range(COMPONENTS):
        out.append(f"  - name: comp-{c}\n")
    return "".join(out)


# The alert of the per-alert comparison: no route takes it, so every route is tried (the
# worst case; benches/catalog.rs `route_unmapped` maps the same labels).
UNMAPPED_ALERT = {"alertname": "Nope", "service": "unknown", "env": "prod", "team": "team-7"}
