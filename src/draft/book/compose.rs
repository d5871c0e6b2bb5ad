//! Writing a draft: its first text and statuses, and bringing a pending draft up to date
//! with its group without undoing what a person edited.

use super::*;

/// What an automatic revision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    /// Only the alerts behind it (and notes about them).
    Alerts,
    Revision,
}

impl Drafts {
    pub(super) fn create(
        &self,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Draft> {
        let number = self.store.counter("draft")?;
        let (snap, internal) = &crate::draft::public_view(snap, catalog);
        let (title, body, components) = self.text(kind, snap, ledger, catalog)?;
        let worst = components
            .values()
            .copied()
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let mut draft = Draft {
            id: format!("D-{number}"),
            incident_id: ledger.incident_id.clone(),
            group_id: snap.group_id.clone(),
            kind,
            state: DraftState::Pending,
            revision: 1,
            title,
            body,
            incident_status: default_status(kind, ledger),
            impact: if kind == DraftKind::Resolution {
                ledger_impact(ledger)
            } else {
                worst.impact()
            },
            components,
            internal_components: internal.clone(),
            alerts: snap.alerts.iter().map(DraftAlert::from).collect(),
            flapping: snap.flapping,
            created_at: now,
            updated_at: now,
            edited_fields: Default::default(),
            reason: None,
            history: Vec::new(),
            revisions: Vec::new(),
            notes: notes(snap, internal, catalog),
            suggestions: Vec::new(),
            conflict: None,
        };
        draft.incident_status = suggested_status(kind, ledger, snap);
        if let Some(update) = responders_update(kind, snap, ledger) {
            draft.body = self.redactor.redact(update.text);
        }
        draft.log(
            now,
            SYSTEM,
            "created",
            format!("{} from {} alert(s)", kind.as_str(), snap.alerts.len()),
        );
        Ok(draft)
    }

    /// Revises a pending draft and writes what changed.
    pub(super) fn commit_change(
        &self,
        mut draft: Draft,
        ledger: &Ledger,
        kind: DraftKind,
        snap: &Snapshot,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        match self.revise(&mut draft, kind, snap, ledger, catalog, now)? {
            Change::None => Ok(Vec::new()),
            Change::Alerts => {
                // The ingest audit entries already say which alerts arrived.
                self.commit(&draft, Some(ledger), None, &[])?;
                Ok(vec![DraftEvent::AlertsUpdated(draft)])
            }
            Change::Revision => {
                self.commit(&draft, Some(ledger), None, &[revised_entry(&draft, now)])?;
                Ok(vec![DraftEvent::Revised(draft)])
            }
        }
    }

    /// Brings a pending draft up to date with the group; fields a person edited stay.
    /// Returns whether anything changed.
    fn revise(
        &self,
        draft: &mut Draft,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Change> {
        let (snap, internal) = &crate::draft::public_view(snap, catalog);
        let (title, body, components) = self.text(kind, snap, ledger, catalog)?;
        let edited = |f: &str| draft.edited_fields.contains(f);
        let worst = components
            .values()
            .copied()
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let mut next = draft.clone();
        next.kind = kind;
        next.alerts = snap.alerts.iter().map(DraftAlert::from).collect();
        next.flapping = snap.flapping;
        next.internal_components = internal.clone();
        next.notes = notes(snap, internal, catalog);
        if !edited("title") {
            next.title = title;
        }
        if !edited("body") {
            next.body = body;
        }
        if !edited("components") {
            next.components = components;
        }
        if !edited("impact") && kind != DraftKind::Resolution {
            next.impact = worst.impact();
        }
        if !edited("incident_status") || kind == DraftKind::Resolution {
            next.incident_status = suggested_status(kind, ledger, snap);
        }
        if let Some(update) = responders_update(kind, snap, ledger) {
            let (at, text) = (update.at, self.redactor.redact(update.text));
            if !edited("body") {
                next.body = text;
            } else if !next
                .suggestions
                .iter()
                .any(|s| s.at == at && s.text == text)
            {
                next.suggestions.push(crate::draft::Suggestion {
                    at,
                    source: Source::Pagerduty,
                    text,
                });
            }
        }
        if next == *draft {
            return Ok(Change::None);
        }
        // A revision is what an approver reads and approves; more alerts behind the same
        // text and statuses are not a new revision (and must not cost one per alert).
        let same_public = next.kind == draft.kind
            && next.title == draft.title
            && next.body == draft.body
            && next.components == draft.components
            && next.incident_status == draft.incident_status
            && next.impact == draft.impact
            && next.flapping == draft.flapping;
        if same_public {
            let (revision, revisions, history, updated_at) = (
                draft.revision,
                std::mem::take(&mut draft.revisions),
                std::mem::take(&mut draft.history),
                draft.updated_at,
            );
            *draft = next;
            draft.revision = revision;
            draft.revisions = revisions;
            draft.history = history;
            draft.updated_at = updated_at;
            return Ok(Change::Alerts);
        }
        let what = changes(draft, &next);
        draft.next_revision(SYSTEM, now);
        let (revision, revisions, history) = (
            draft.revision,
            std::mem::take(&mut draft.revisions),
            std::mem::take(&mut draft.history),
        );
        *draft = next;
        draft.revision = revision;
        draft.revisions = revisions;
        draft.history = history;
        draft.updated_at = now;
        draft.log(now, SYSTEM, "revised", what);
        Ok(Change::Revision)
    }

    fn text(
        &self,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
    ) -> Result<(String, String, BTreeMap<String, ComponentStatus>)> {
        let previous =
            (!ledger.published_components.is_empty()).then_some(&ledger.published_components);
        let mut ctx = text_context(kind, snap, catalog, &self.redactor, previous);
        let mut components = snap.components.clone();
        if kind == DraftKind::Resolution {
            // Resolve everything the public saw, not only what the last alerts named.
            for id in ledger.published_components.keys() {
                if catalog.component(id).is_none_or(|c| c.public) {
                    components.insert(id.clone(), ComponentStatus::Operational);
                }
            }
            let names: Vec<String> = components
                .keys()
                .map(|id| {
                    catalog
                        .component(id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| id.clone())
                })
                .collect();
            ctx.component_names = crate::draft::render::join_names(&names);
            ctx.plural = names.len() > 1;
        }
        let ids: Vec<String> = ctx.components.iter().map(|c| c.id.clone()).collect();
        let (mut title, body) = self
            .templates
            .draft_text(kind, &ids, &ctx)
            .map_err(StoreError::Io)
            .or_else(|e| {
                tracing::error!(error = %e, "draft template failed; using plain text");
                Ok::<_, StoreError>((ctx.component_names.clone(), String::new()))
            })?;
        if kind != DraftKind::NewIncident {
            // A template never renames a published incident: it keeps its public name.
            if let Some(public_name) = ledger.title.as_ref().filter(|t| !t.is_empty()) {
                title = public_name.clone();
            }
        }
        Ok((
            self.redactor.redact(&title),
            self.redactor.redact(&body),
            components,
        ))
    }
}

fn default_status(kind: DraftKind, ledger: &Ledger) -> IncidentStatus {
    match kind {
        DraftKind::NewIncident => IncidentStatus::Investigating,
        DraftKind::Update => ledger
            .incident_status
            .filter(|s| !s.is_closed())
            .unwrap_or(IncidentStatus::Investigating),
        DraftKind::Resolution => IncidentStatus::Resolved,
    }
}

/// The incident status to propose: the usual one, moved by what responders did in
/// PagerDuty. An acknowledgement suggests `identified` where the public still reads
/// `investigating`; with every acknowledgement withdrawn, `identified` goes back to
/// `investigating`. A status a person chose later (`monitoring`) stays.
fn suggested_status(kind: DraftKind, ledger: &Ledger, snap: &Snapshot) -> IncidentStatus {
    let base = default_status(kind, ledger);
    if kind == DraftKind::Resolution {
        return base;
    }
    let acks: Vec<bool> = snap
        .alerts
        .iter()
        .filter(|a| a.is_firing())
        .filter_map(|a| a.acknowledged())
        .collect();
    if acks.is_empty() {
        return base;
    }
    match (acks.iter().any(|a| *a), base) {
        (true, IncidentStatus::Investigating) => IncidentStatus::Identified,
        (false, IncidentStatus::Identified) => IncidentStatus::Investigating,
        _ => base,
    }
}

/// The newest status update responders wrote (in PagerDuty) that arrived since the
/// incident was last published: the text for an open incident's next public update.
/// None for resolutions.
fn responders_update<'a>(
    kind: DraftKind,
    snap: &'a Snapshot,
    ledger: &Ledger,
) -> Option<StatusUpdate<'a>> {
    if kind == DraftKind::Resolution {
        return None;
    }
    snap.alerts
        .iter()
        .filter_map(|a| a.status_update())
        .filter(|u| ledger.last_published_at.is_none_or(|p| u.received_at > p))
        .max_by_key(|u| u.at)
}

pub(super) fn ledger_impact(ledger: &Ledger) -> crate::vocab::Impact {
    ledger
        .published_components
        .values()
        .copied()
        .max()
        .unwrap_or(ComponentStatus::Operational)
        .impact()
}

fn revised_entry(draft: &Draft, now: DateTime<Utc>) -> AuditEntry {
    AuditEntry::new(now, SYSTEM, "draft_revised")
        .draft(&draft.id, draft.revision)
        .detail(json!({"kind": draft.kind, "components": draft.components}))
}

/// "components, body": what a revision changed, for the history.
fn changes(before: &Draft, after: &Draft) -> String {
    let (b, a) = (before, after);
    let flapping = if a.flapping {
        "flapping"
    } else {
        "no longer flapping"
    };
    let said: [Option<String>; 8] = [
        (b.kind != a.kind).then(|| format!("now a {}", a.kind.as_str())),
        (b.components != a.components).then(|| "components".into()),
        (b.alerts != a.alerts).then(|| "alerts".into()),
        (b.flapping != a.flapping).then(|| flapping.into()),
        (b.suggestions != a.suggestions).then(|| "suggestions".into()),
        (b.incident_status != a.incident_status)
            .then(|| format!("status {}", a.incident_status.as_str())),
        (b.title != a.title).then(|| "title".into()),
        (b.body != a.body).then(|| "body".into()),
    ];
    said.into_iter().flatten().collect::<Vec<_>>().join(", ")
}
