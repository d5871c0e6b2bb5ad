//! Lifecycle rules of the draft book: internal-only incidents, what makes an update worse,
//! approver notes about internal components, and drafts held by the hourly budget.

use super::*;

impl Drafts {
    /// A new incident that touches internal components only: nothing is proposed, and the
    /// audit log records it once (`internal_incident`) for the approvers.
    pub(super) fn internal_only(
        &self,
        ledger: &mut Ledger,
        snap: &Snapshot,
        internal: BTreeMap<String, ComponentStatus>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        ledger.deferred = None;
        let first = !std::mem::replace(&mut ledger.internal_only, true);
        ledger.internal_components = internal.clone();
        ledger.internal_since.get_or_insert(snap.started_at);
        self.commit_ledger(ledger)?;
        if !first || internal.is_empty() {
            return Ok(Vec::new());
        }
        let entry = AuditEntry::new(now, SYSTEM, "internal_incident").detail(json!({
            "group_id": snap.group_id,
            "internal_components": internal,
            "alerts": snap.alerts.iter().map(|a| &a.fingerprint).collect::<Vec<_>>(),
        }));
        self.store
            .transaction(&[self.audit.table()], |tx| self.audit.append_in(tx, &entry))?
            .map_err(|e| StoreError::Io(format!("{e:?}")))?;
        Ok(vec![DraftEvent::InternalOnly {
            group_id: snap.group_id.clone(),
            internal_components: internal,
        }])
    }

    /// Open incidents that touch internal components only (never proposed for a public
    /// surface), oldest first.
    pub fn internal_incidents(&self) -> Result<Vec<Ledger>> {
        let mut open: Vec<Ledger> = self
            .ledgers
            .values::<Ledger>()?
            .into_iter()
            .filter(|l| l.internal_only && l.incident_id.is_none() && l.pending.is_none())
            .collect();
        open.sort_by_key(|l| l.internal_since);
        Ok(open)
    }

    /// Ledgers of drafts held by `limits.drafts_per_hour` at `now`, oldest hold first. None
    /// without reading the ledgers when the draft timers have nothing due: a held draft is
    /// due on every pass, so a quiet book holds none.
    pub fn held(&self, now: DateTime<Utc>) -> Result<Vec<Ledger>> {
        if self.timers.quiet(now) {
            return Ok(Vec::new());
        }
        let mut held: Vec<Ledger> = self
            .ledgers
            .values::<Ledger>()?
            .into_iter()
            .filter(|l| l.held_since.is_some() && l.deferred.is_some())
            .collect();
        held.sort_by(|a, b| {
            a.held_since
                .cmp(&b.held_since)
                .then(a.group_id.cmp(&b.group_id))
        });
        Ok(held)
    }

    /// The held new incidents `gone` were folded into the group of `into`: one held draft
    /// for all of them, from `snap`.
    pub fn fold_held(&self, into: &Ledger, gone: &[String], snap: Snapshot) -> Result<()> {
        let mut ledger = into.clone();
        ledger.deferred = Some(snap);
        self.commit_ledger(&ledger)?;
        for id in gone {
            self.ledgers.remove(id)?;
        }
        Ok(())
    }

    /// The hourly budget, if any.
    pub fn per_hour(&self) -> u32 {
        self.per_hour_n
    }
}

/// Whether `components` would make the published incident worse: a component in a worse
/// status than the public saw (or newly in trouble), or a worse impact.
pub(super) fn worsens(components: &BTreeMap<String, ComponentStatus>, ledger: &Ledger) -> bool {
    let worse_component = components.iter().any(|(c, s)| {
        *s > ledger
            .published_components
            .get(c)
            .copied()
            .unwrap_or(ComponentStatus::Operational)
    });
    let worst = components
        .values()
        .copied()
        .max()
        .unwrap_or(ComponentStatus::Operational);
    worse_component || worst.impact() > ledger_impact(ledger)
}

/// Notes for the approver: those about the alerts, and which internal components are
/// affected (named here only, never in the public text).
pub(super) fn notes(
    snap: &Snapshot,
    internal: &BTreeMap<String, ComponentStatus>,
    catalog: &Catalog,
) -> Vec<String> {
    let mut notes = crate::draft::notes_for(snap);
    let troubled: Vec<String> = internal
        .iter()
        .filter(|(_, s)| **s != ComponentStatus::Operational)
        .map(|(id, s)| {
            let name = catalog.component(id).map_or(id.as_str(), |c| &c.name);
            format!("{name} ({})", s.label().to_lowercase())
        })
        .collect();
    if !troubled.is_empty() {
        notes.push(format!(
            "Internal components (never published): {}.",
            troubled.join(", ")
        ));
    }
    // The text goes to every page the incident reaches: a tenant's component named in it
    // would be read by the public or by another tenant.
    let comps: Vec<_> = snap
        .components
        .keys()
        .filter_map(|id| catalog.component(id))
        .collect();
    let tenants: Vec<String> = comps
        .iter()
        .filter(|c| !c.audiences.is_empty())
        .map(|c| format!("{} ({})", c.name, c.audiences.join(", ")))
        .collect();
    let shared = comps
        .iter()
        .any(|c| c.audiences.is_empty() || c.audiences != comps[0].audiences);
    if !tenants.is_empty() && shared {
        notes.push(format!(
            "Only some readers see {}; the title and body reach every page this incident is on, so do not name them there.",
            tenants.join(", ")
        ));
    }
    notes
}
