//! What a draft means for error budgets: for each affected component with a service level
//! objective, the budget left and what the incident has burned on the page so far. The
//! approver reads it in the draft's JSON (`error_budget`) and in its Slack message.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use super::Approvals;
use crate::draft::Draft;
use crate::page::slo::IncidentBudget;
use crate::vocab::DraftState;

/// A draft as approvers read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DraftView {
    #[serde(flatten)]
    pub draft: Draft,
    /// While the draft is pending: per affected component (id) with a service level
    /// objective, the error budget left and what this incident has burned so far (only
    /// published statuses count, so a new incident has burned nothing yet). Empty otherwise.
    pub error_budget: BTreeMap<String, IncidentBudget>,
    /// How many alerts are behind the draft (a list may show fewer of them).
    pub alert_count: usize,
}

impl Approvals {
    /// The error budgets a pending draft affects (empty for other drafts). A store error
    /// only costs the figures: the draft itself is still shown.
    pub fn error_budget(&self, draft: &Draft) -> BTreeMap<String, IncidentBudget> {
        if draft.state != DraftState::Pending {
            return BTreeMap::new();
        }
        self.levels
            .for_incident(&draft.components, draft.incident_id.as_deref(), Utc::now())
            .unwrap_or_else(|e| {
                tracing::warn!(draft = %draft.id, error = %e, "could not compute error budgets");
                BTreeMap::new()
            })
    }

    pub fn view(&self, draft: Draft) -> DraftView {
        self.view_trimmed(draft, None)
    }

    /// [`Approvals::view`] with at most `keep` of the draft's alerts (all when None);
    /// `alert_count` still counts them all.
    pub fn view_trimmed(&self, mut draft: Draft, keep: Option<usize>) -> DraftView {
        let alert_count = draft.alerts.len();
        if let Some(n) = keep {
            draft.alerts.truncate(n);
        }
        let error_budget = self.error_budget(&draft);
        DraftView {
            alert_count,
            draft,
            error_budget,
        }
    }
}

/// One line per affected objective, for chat: what is left and what this incident burned.
pub fn lines(
    budget: &BTreeMap<String, IncidentBudget>,
    name: &dyn Fn(&str) -> String,
) -> Vec<String> {
    budget
        .iter()
        .map(|(id, b)| {
            let head = format!("{} ({}% over {})", name(id), b.target, b.window);
            let (Some(left), Some(minutes)) = (b.budget_remaining, b.budget_remaining_minutes)
            else {
                return format!("{head}: collecting data, no budget figure yet");
            };
            let left = if minutes < 0.0 {
                format!("overspent by {} min", -minutes)
            } else {
                format!(
                    "{}% left ({minutes} of {} min)",
                    (left * 1000.0).floor() / 10.0,
                    b.budget_minutes
                )
            };
            let burned = format!(
                "this incident burned {} min ({}%)",
                b.burned_by_incident_minutes,
                (b.burned_by_incident * 1000.0).round() / 10.0
            );
            let lasts = b
                .lasts_minutes_at_proposed_status
                .map(|m| format!("; at the proposed status it lasts {m} min more"))
                .unwrap_or_default();
            format!("{head}: {left}; {burned}{lasts}")
        })
        .collect()
}
