//! Incidents and updates people write rather than alerts (chat, API, board, CLI), drafted
//! like any other.

use super::*;

/// An update to a published incident that a person asked for (chat or API) rather than
/// alerts. Everything is already checked by the caller; only the text is redacted here.
#[derive(Debug, Clone)]
pub struct ManualUpdate {
    pub incident_id: String,
    pub title: String,
    /// `None`: the `drafts/still_investigating.body` template's text.
    pub body: Option<String>,
    pub incident_status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
    /// The components' names, for the template.
    pub component_names: String,
}

/// Why a manual update was not drafted.
#[derive(Debug, thiserror::Error)]
pub enum ManualDraftError {
    #[error("draft {0} is already pending for this incident; edit or decide that one instead")]
    AlreadyPending(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Drafts {
    /// Drafts an update for a published incident with a person's text, to be approved like
    /// any draft. One pending draft per incident still holds: when one waits, this refuses.
    pub fn manual_update(
        &self,
        m: ManualUpdate,
        actor: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<Draft, ManualDraftError> {
        let found = self
            .ledgers
            .values::<Ledger>()?
            .into_iter()
            .find(|l| l.incident_id.as_deref() == Some(m.incident_id.as_str()));
        // An incident whose group is gone (published by hand, or after a restart that
        // dropped it) gets a ledger of its own, so approval records publication as usual.
        let mut ledger = found.unwrap_or_else(|| Ledger {
            group_id: format!("incident:{}", m.incident_id),
            incident_id: Some(m.incident_id.clone()),
            incident_status: Some(m.incident_status),
            published_components: m.components.clone(),
            ..Ledger::default()
        });
        if let Some(pending) = self.pending_of(&ledger)? {
            return Err(ManualDraftError::AlreadyPending(pending.id));
        }
        // A resolved status is the incident's resolution, worded as one when nobody wrote it.
        let (kind, template, fallback) = if m.incident_status.is_closed() {
            (
                DraftKind::Resolution,
                "drafts/resolution.body",
                format!(
                    "This incident has been resolved. {} {} operating normally again.",
                    m.component_names,
                    if m.components.len() > 1 { "are" } else { "is" }
                ),
            )
        } else {
            (
                DraftKind::Update,
                "drafts/still_investigating.body",
                format!(
                    "We are continuing to investigate the issue affecting {}.",
                    m.component_names
                ),
            )
        };
        let body = match m.body {
            Some(b) => b,
            None => self
                .templates
                .render(
                    template,
                    &json!({"component_names": m.component_names, "title": m.title,
                        "plural": m.components.len() > 1}),
                )
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, template, "template failed; using plain text");
                    fallback
                }),
        };
        let number = self.store.counter("draft")?;
        let incident_id = m.incident_id;
        let text = ManualIncident {
            title: m.title,
            body,
            incident_status: m.incident_status,
            impact: m.impact,
            components: m.components,
        };
        let mut draft = self.by_hand(
            format!("D-{number}"),
            kind,
            Some(incident_id.clone()),
            &ledger,
            text,
            now,
        );
        draft.log(
            now,
            actor,
            "created",
            format!("{} for {} drafted by hand", kind.as_str(), incident_id),
        );
        ledger.pending = Some(draft.id.clone());
        let entry = AuditEntry::new(now, actor, "draft_created")
            .draft(&draft.id, draft.revision)
            .detail(json!({"kind": draft.kind, "incident_id": incident_id, "manual": true}));
        self.commit(&draft, Some(&ledger), None, &[entry])?;
        Ok(draft)
    }
}

/// A new incident a person declares (a vendor outage, a security incident, a customer
/// report): no alerts behind it. Everything is already checked by the caller.
#[derive(Debug, Clone)]
pub struct ManualIncident {
    pub title: String,
    pub body: String,
    pub incident_status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
}

impl Drafts {
    /// Drafts a new incident with a person's text and no alerts, in a ledger of its own
    /// (`manual:<draft id>`), so approval publishes it and later updates find it as usual.
    pub fn manual_incident(
        &self,
        m: ManualIncident,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Draft> {
        let number = self.store.counter("draft")?;
        let id = format!("D-{number}");
        let mut ledger = Ledger {
            group_id: format!("manual:{id}"),
            ..Ledger::default()
        };
        let mut draft = self.by_hand(id.clone(), DraftKind::NewIncident, None, &ledger, m, now);
        draft.log(now, actor, "created", "incident declared by hand");
        ledger.pending = Some(id);
        let entry = AuditEntry::new(now, actor, "draft_created")
            .draft(&draft.id, draft.revision)
            .detail(json!({"kind": draft.kind, "components": draft.components, "manual": true}));
        self.commit(&draft, Some(&ledger), None, &[entry])?;
        Ok(draft)
    }
}

impl Drafts {
    /// The one shape of a draft a person wrote: pending at revision 1, no alerts behind it,
    /// text redacted, and title and body marked edited so revisions from alerts leave
    /// them alone.
    fn by_hand(
        &self,
        id: String,
        kind: DraftKind,
        incident_id: Option<String>,
        ledger: &Ledger,
        text: ManualIncident,
        now: DateTime<Utc>,
    ) -> Draft {
        Draft {
            id,
            incident_id,
            group_id: ledger.group_id.clone(),
            kind,
            state: DraftState::Pending,
            revision: 1,
            title: self.redactor.redact(text.title.trim()),
            body: self.redactor.redact(text.body.trim()),
            incident_status: text.incident_status,
            impact: text.impact,
            components: text.components,
            internal_components: BTreeMap::new(),
            alerts: Vec::new(),
            flapping: false,
            created_at: now,
            updated_at: now,
            edited_fields: ["title", "body"].into_iter().map(String::from).collect(),
            reason: None,
            history: Vec::new(),
            revisions: Vec::new(),
            notes: Vec::new(),
            suggestions: Vec::new(),
            conflict: None,
        }
    }
}
