//! Reading a Statuspage incident back and deciding what to write: field by field against
//! statusgate's last write, where a person's hand stands in the way.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde_json::{json, Value};

use super::Shown;
use crate::publish::outbox::Choice;

/// One incident update as the page lists it.
#[derive(Debug, Clone)]
pub(super) struct PageUpdate {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) body: String,
}

/// A time as Statuspage's window fields are compared: UTC, milliseconds (as it writes them).
pub(super) fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a window time in any offset Statuspage writes it (the page's own time zone).
pub(super) fn read_time(v: &Value) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(utc(t.with_timezone(&chrono::Utc)))
}

/// Reads an incident as Statuspage returns it: the newest update's body, and the status of
/// each component statusgate maps.
pub(super) fn read_shown(v: &Value, mapped: &BTreeMap<String, String>) -> Shown {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let updates = v["incident_updates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Statuspage lists updates newest first; order by time anyway.
    let newest = updates.iter().max_by(|a, b| {
        let t = |u: &Value| u["created_at"].as_str().unwrap_or_default().to_string();
        t(a).cmp(&t(b))
    });
    let ids: Vec<&String> = mapped.values().collect();
    Shown {
        name: text("name"),
        status: text("status"),
        impact: text("impact"),
        body: newest
            .and_then(|u| u["body"].as_str())
            .unwrap_or_default()
            .to_string(),
        components: v["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let id = c["id"].as_str()?.to_string();
                ids.contains(&&id)
                    .then(|| (id, c["status"].as_str().unwrap_or_default().to_string()))
            })
            .collect(),
        scheduled_for: read_time(&v["scheduled_for"]),
        scheduled_until: read_time(&v["scheduled_until"]),
    }
}

/// The incident's updates, newest first.
pub(super) fn read_updates(v: &Value) -> Vec<PageUpdate> {
    let mut out: Vec<(String, PageUpdate)> = v["incident_updates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            let text = |k: &str| u[k].as_str().unwrap_or_default().to_string();
            Some((
                text("created_at"),
                PageUpdate {
                    id: u["id"].as_str()?.to_string(),
                    status: text("status"),
                    body: text("body"),
                },
            ))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.into_iter().map(|(_, u)| u).collect()
}

/// The update ids in an answer that carries the incident; `None` when it does not.
pub(super) fn update_ids(v: &Value) -> Option<Vec<String>> {
    v["incident_updates"].as_array()?;
    Some(read_updates(v).into_iter().map(|u| u.id).collect())
}

/// The text of the newest update a person posted since statusgate's last write, if any.
/// Steps Statuspage's own clock makes on a scheduled maintenance are no person's.
pub(super) fn posted_by_hand(
    known: Option<&[String]>,
    page: &[PageUpdate],
    base: &Shown,
    scheduled: bool,
) -> Option<String> {
    match known {
        Some(known) => page
            .iter()
            .filter(|u| !known.contains(&u.id))
            .find(|u| !(scheduled && automatic("status", &u.status)))
            .map(|u| u.body.clone()),
        None => page
            .first()
            .filter(|u| u.body != base.body && !(scheduled && automatic("status", &u.status)))
            .map(|u| u.body.clone()),
    }
}

/// Values Statuspage's own clock writes into a scheduled maintenance (the auto flags move
/// it to `in_progress` and `completed`, and its components with it): seeing one is no sign
/// of a person's hand.
fn automatic(field: &str, value: &str) -> bool {
    match field {
        "status" => matches!(value, "in_progress" | "completed"),
        f if f.starts_with("components.") => {
            matches!(value, "under_maintenance" | "operational")
        }
        _ => false,
    }
}

/// What to send, what the page will then show, and where a hand edit stands in the way.
pub(super) struct Plan {
    pub(super) patch: serde_json::Map<String, Value>,
    pub(super) next: Shown,
    pub(super) conflicts: Vec<(String, String, String)>,
    /// Hand edits of fields statusgate leaves as they are: they stop a write all the same.
    untouched: Vec<(String, String, String)>,
}

/// A text field of [`Shown`]: its name, how to read it and how to set it.
type TextField = (
    &'static str,
    fn(&Shown) -> &String,
    fn(&mut Shown) -> &mut String,
);

/// What the admin's choice makes of a field a person changed by hand: `theirs` keeps their
/// value, `overwrite` goes on to write ours, no choice yet notes the field in `noted` and
/// leaves it alone. `Break` carries the value the page shows afterwards, if decided.
fn settle(
    choice: Option<Choice>,
    noted: &mut Vec<(String, String, String)>,
    field: &str,
    ours: &str,
    cur: &str,
) -> ControlFlow<Option<String>> {
    match choice {
        Some(Choice::Theirs) => ControlFlow::Break(Some(cur.to_string())),
        Some(Choice::Overwrite) => ControlFlow::Continue(()),
        None => {
            noted.push((field.to_string(), ours.to_string(), cur.to_string()));
            ControlFlow::Break(None)
        }
    }
}

/// Field by field: send what statusgate wants changed and leave alone what it does not.
/// Any change a person made since statusgate's last write — an edited field or an update
/// they posted (`posted`, its text) — stops the write as a conflict until the admin chose:
/// `theirs` keeps the person's values and sends the rest, `overwrite` puts statusgate's back.
pub(super) fn compare(
    desired: &Shown,
    last: &Shown,
    theirs: &Shown,
    choice: Option<Choice>,
    scheduled: bool,
    posted: Option<&str>,
) -> Plan {
    let mut plan = Plan {
        patch: serde_json::Map::new(),
        next: last.clone(),
        conflicts: Vec::new(),
        untouched: Vec::new(),
    };
    if let (Some(their_text), None) = (posted, choice) {
        plan.conflicts.push((
            "updates".to_string(),
            desired.body.clone(),
            their_text.to_string(),
        ));
    }
    let scalar = |field: &str, ours: &str, last: &str, cur: &str, plan: &mut Plan| {
        // Returns the value the page shows afterwards, if statusgate decides it.
        let by_hand = cur != last && !(scheduled && automatic(field, cur));
        if ours == last {
            if !by_hand || cur == ours {
                return None;
            }
            if let ControlFlow::Break(shown) = settle(choice, &mut plan.untouched, field, ours, cur)
            {
                return shown;
            }
        }
        if cur == ours {
            return Some(ours.to_string());
        }
        if by_hand && ours != last {
            if let ControlFlow::Break(shown) = settle(choice, &mut plan.conflicts, field, ours, cur)
            {
                return shown;
            }
        }
        let key = if field == "impact" {
            "impact_override"
        } else {
            field
        };
        plan.patch.insert(key.to_string(), json!(ours));
        Some(ours.to_string())
    };
    let texts: [TextField; 3] = [
        ("name", |s| &s.name, |s| &mut s.name),
        ("status", |s| &s.status, |s| &mut s.status),
        ("impact", |s| &s.impact, |s| &mut s.impact),
    ];
    for (field, get, set) in texts {
        if let Some(v) = scalar(field, get(desired), get(last), get(theirs), &mut plan) {
            *set(&mut plan.next) = v;
        }
    }
    for field in ["scheduled_for", "scheduled_until"] {
        let get = |s: &Shown| {
            if field == "scheduled_for" {
                s.scheduled_for.clone()
            } else {
                s.scheduled_until.clone()
            }
        };
        let Some(ours) = get(desired) else { continue };
        let was = get(last).unwrap_or_default();
        let cur = get(theirs).unwrap_or_default();
        if let Some(v) = scalar(field, &ours, &was, &cur, &mut plan) {
            if field == "scheduled_for" {
                plan.next.scheduled_for = Some(v);
            } else {
                plan.next.scheduled_until = Some(v);
            }
        }
    }
    let mut components = serde_json::Map::new();
    for (id, ours) in &desired.components {
        let was = last.components.get(id).cloned().unwrap_or_default();
        let cur = theirs.components.get(id).cloned().unwrap_or_default();
        let before = plan.patch.len();
        let field = format!("components.{id}");
        if let Some(v) = scalar(&field, ours, &was, &cur, &mut plan) {
            plan.next.components.insert(id.clone(), v);
        }
        if let Some(sent) = (plan.patch.len() > before)
            .then(|| plan.patch.remove(&field))
            .flatten()
        {
            components.insert(id.clone(), sent);
        }
    }
    if !components.is_empty() {
        plan.patch
            .insert("components".into(), Value::Object(components));
    }
    // A new text is a new incident update. After one a person posted: theirs leaves it the
    // newest, overwrite posts statusgate's text on top of it.
    match (posted, choice) {
        (Some(_), Some(Choice::Theirs)) => plan.next.body = theirs.body.clone(),
        (Some(_), Some(Choice::Overwrite)) => {
            plan.patch.insert("body".into(), json!(desired.body));
            plan.next.body = desired.body.clone();
        }
        _ if desired.body != last.body => {
            plan.patch.insert("body".into(), json!(desired.body));
            plan.next.body = desired.body.clone();
        }
        _ => {}
    }
    // Nothing is written over a person's hand; if nothing would be written, their edit
    // simply stands.
    if !plan.patch.is_empty() || !plan.conflicts.is_empty() {
        let untouched = std::mem::take(&mut plan.untouched);
        plan.conflicts.extend(untouched);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(name: &str, status: &str, body: &str, api: &str) -> Shown {
        Shown {
            name: name.into(),
            status: status.into(),
            impact: "major".into(),
            body: body.into(),
            components: [("c1".to_string(), api.to_string())].into(),
            scheduled_for: None,
            scheduled_until: None,
        }
    }

    #[test]
    fn sends_only_the_fields_that_change() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let want = shown("API down", "identified", "Found it", "major_outage");
        let plan = compare(&want, &last, &last, None, false, None);
        assert!(plan.conflicts.is_empty());
        let keys: Vec<&String> = plan.patch.keys().collect();
        assert_eq!(keys, ["body", "status"]);
        assert_eq!(plan.next, want);
    }

    #[test]
    fn a_hand_edit_where_statusgate_would_write_is_a_conflict() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let theirs = shown("Login problems", "investigating", "Looking", "major_outage");
        let want = shown("API slow", "investigating", "Looking", "major_outage");
        let plan = compare(&want, &last, &theirs, None, false, None);
        assert_eq!(
            plan.conflicts,
            [(
                "name".to_string(),
                "API slow".to_string(),
                "Login problems".to_string()
            )]
        );
        // Where statusgate changes nothing, a hand edit stands without a conflict.
        let plan = compare(&last, &last, &theirs, None, false, None);
        assert!(plan.conflicts.is_empty() && plan.patch.is_empty());
        // The admin's choice settles it either way.
        let plan = compare(&want, &last, &theirs, Some(Choice::Theirs), false, None);
        assert!(plan.patch.is_empty());
        assert_eq!(plan.next.name, "Login problems");
        let plan = compare(&want, &last, &theirs, Some(Choice::Overwrite), false, None);
        assert_eq!(plan.patch["name"], "API slow");
    }

    #[test]
    fn an_update_a_person_posted_or_any_hand_edit_stops_the_next_write() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        // A person posted "monitoring" with their own text.
        let theirs = shown("API down", "monitoring", "Fix deployed", "major_outage");
        let want = shown("API down", "identified", "Found it", "major_outage");
        let plan = compare(&want, &last, &theirs, None, false, Some("Fix deployed"));
        assert_eq!(
            plan.conflicts[0],
            (
                "updates".to_string(),
                "Found it".to_string(),
                "Fix deployed".to_string()
            )
        );
        let choose = |c| compare(&want, &last, &theirs, Some(c), false, Some("Fix deployed"));
        // Theirs: their update stays the newest; nothing is posted over it.
        let plan = choose(Choice::Theirs);
        assert!(plan.conflicts.is_empty());
        assert!(plan.patch.get("body").is_none(), "{:?}", plan.patch);
        assert_eq!(plan.next.body, "Fix deployed");
        // Overwrite: statusgate's update goes on top.
        let plan = choose(Choice::Overwrite);
        assert_eq!(plan.patch["body"], "Found it");
        assert_eq!(plan.patch["status"], "identified");
        // A renamed incident stops an update that would not touch the name.
        let renamed = shown("Login problems", "investigating", "Looking", "major_outage");
        let plan = compare(&want, &last, &renamed, None, false, None);
        assert_eq!(plan.conflicts[0].0, "name");
        assert_eq!(plan.conflicts[0].2, "Login problems");
    }

    #[test]
    fn a_posted_update_is_one_whose_id_statusgate_did_not_see() {
        let u = |id: &str, status: &str, body: &str| PageUpdate {
            id: id.into(),
            status: status.into(),
            body: body.into(),
        };
        let base = shown("API down", "investigating", "Looking", "major_outage");
        let page = [
            u("u2", "monitoring", "Fix deployed"),
            u("u1", "investigating", "Looking"),
        ];
        let known = ["u1".to_string()];
        assert_eq!(
            posted_by_hand(Some(&known), &page, &base, false).as_deref(),
            Some("Fix deployed")
        );
        let all = ["u1".to_string(), "u2".to_string()];
        assert_eq!(posted_by_hand(Some(&all), &page, &base, false), None);
        // Without ids, a newest text that is not statusgate's.
        assert!(posted_by_hand(None, &page, &base, false).is_some());
        assert_eq!(posted_by_hand(None, &page[1..], &base, false), None);
        // Statuspage's clock starting a maintenance is no person's update.
        let page = [
            u("u2", "in_progress", "Started"),
            u("u1", "scheduled", "Looking"),
        ];
        assert_eq!(posted_by_hand(Some(&known), &page, &base, true), None);
    }

    #[test]
    fn component_changes_go_out_as_a_components_object() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let want = shown(
            "API down",
            "investigating",
            "Looking",
            "degraded_performance",
        );
        let plan = compare(&want, &last, &last, None, false, None);
        assert_eq!(
            Value::Object(plan.patch),
            json!({"components": {"c1": "degraded_performance"}})
        );
        let theirs = shown("API down", "investigating", "Looking", "operational");
        let plan = compare(&want, &last, &theirs, None, false, None);
        assert_eq!(plan.conflicts[0].0, "components.c1");
    }

    #[test]
    fn a_maintenance_window_moves_and_statuspage_clock_steps_are_no_hand_edits() {
        let mut last = shown("DB upgrade", "scheduled", "Planned", "operational");
        last.scheduled_for = Some("2026-03-01T02:00:00.000Z".into());
        last.scheduled_until = Some("2026-03-01T03:00:00.000Z".into());
        let mut want = last.clone();
        want.scheduled_until = Some("2026-03-01T04:00:00.000Z".into());
        let plan = compare(&want, &last, &last, None, true, None);
        assert_eq!(
            Value::Object(plan.patch),
            json!({"scheduled_until": "2026-03-01T04:00:00.000Z"})
        );
        // Statuspage's auto flags started it by themselves; statusgate's start agrees.
        let mut theirs = last.clone();
        theirs.status = "in_progress".into();
        theirs
            .components
            .insert("c1".into(), "under_maintenance".into());
        let mut started = last.clone();
        started.status = "in_progress".into();
        started
            .components
            .insert("c1".into(), "major_outage".into());
        let plan = compare(&started, &last, &theirs, None, true, None);
        assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
        assert_eq!(plan.patch["components"], json!({"c1": "major_outage"}));
        // The same values on an incident are a person's.
        let plan = compare(&started, &last, &theirs, None, false, None);
        assert_eq!(plan.conflicts[0].0, "components.c1");
        // A window read back in the page's own offset is the same window.
        let v = json!({"scheduled_for": "2026-03-01T03:00:00.000+01:00"});
        assert_eq!(
            read_shown(&v, &BTreeMap::new()).scheduled_for.as_deref(),
            Some("2026-03-01T02:00:00.000Z")
        );
    }

    #[test]
    fn reads_the_newest_update_and_mapped_components() {
        let v = json!({
            "id": "p1", "name": "API down", "status": "identified", "impact": "major",
            "incident_updates": [
                {"body": "second", "created_at": "2026-01-01T00:02:00.000Z"},
                {"body": "first", "created_at": "2026-01-01T00:01:00.000Z"}
            ],
            "components": [{"id": "c1", "status": "major_outage"}, {"id": "other", "status": "partial_outage"}]
        });
        let mapped = [("api".to_string(), "c1".to_string())].into();
        let s = read_shown(&v, &mapped);
        assert_eq!(s.body, "second");
        assert_eq!(s.components.len(), 1);
        assert_eq!(s.components["c1"], "major_outage");
    }
}
