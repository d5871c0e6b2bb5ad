//! What a subscriber chooses to hear about, on its confirm page: everything its page
//! shows, or some groups and components. The confirm link stays valid for as long as the
//! subscription exists, so the same page changes the choice later, without an admin.

use super::links::esc;
use super::{check_choice, LinkPurpose, Subscriber};
use crate::publish::api::PublishApi;

/// A choice sent by the form: `None` in `components`/`groups` both means everything.
pub(super) struct Choice {
    components: Option<Vec<String>>,
    groups: Option<Vec<String>>,
}

/// The form's fields (`scope=all|some`, repeated `component` and `group`); `None` when the
/// POST carries no form (the plain confirm button of older mails).
pub(super) fn read(body: &[u8]) -> Result<Option<Choice>, String> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| "the form could not be read".to_string())?;
    let Some(scope) = fields.iter().find(|(k, _)| k == "scope").map(|(_, v)| v) else {
        return Ok(None);
    };
    let values = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    match scope.as_str() {
        "all" => Ok(Some(Choice {
            components: None,
            groups: None,
        })),
        "some" => {
            let (components, groups) = (values("component"), values("group"));
            if components.is_empty() && groups.is_empty() {
                return Err("Pick at least one group or component, or choose everything.".into());
            }
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            Ok(Some(Choice {
                components: some(components),
                groups: some(groups),
            }))
        }
        _ => Err("the form could not be read".into()),
    }
}

/// Sets the choice when everything in it is something this subscriber's page shows.
pub(super) fn apply(s: &PublishApi, sub: &mut Subscriber, choice: &Choice) -> Result<(), String> {
    let seen = s.public.visibility(sub.audience.as_deref());
    let infos = s.outbox.infos();
    check_choice(
        &seen,
        &infos,
        choice.components.as_deref(),
        choice.groups.as_deref(),
    )?;
    sub.components = choice.components.clone();
    sub.groups = choice.groups.clone();
    Ok(())
}

/// The choice fields for the confirm page's form, checked as the subscriber has them now;
/// empty for a token that names nobody (the page then says the link is not valid).
pub(super) fn form_for(s: &PublishApi, token: Option<&str>) -> String {
    let subs = s.outbox.subscribers();
    let Some(sub) = token
        .and_then(|t| subs.check_token(t, LinkPurpose::Confirm))
        .and_then(|id| subs.get(&id).ok().flatten())
    else {
        return String::new();
    };
    let seen = s.public.visibility(sub.audience.as_deref());
    let infos: Vec<_> = s
        .outbox
        .infos()
        .into_iter()
        .filter(|c| seen.component(&c.id))
        .collect();
    let everything = sub.components.is_none() && sub.groups.is_none();
    let checked = |on: bool| if on { " checked" } else { "" };
    let mut groups: Vec<&String> = Vec::new();
    for c in &infos {
        if let Some(g) = &c.group {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    let mut out = format!(
        "<fieldset class=\"choice\"><legend>What to hear about</legend>\
         <p><label><input type=\"radio\" name=\"scope\" value=\"all\"{}> Everything on this page</label></p>\
         <p><label><input type=\"radio\" name=\"scope\" value=\"some\"{}> Only these:</label></p>",
        checked(everything),
        checked(!everything)
    );
    let mine = |list: &Option<Vec<String>>, v: &str| {
        list.as_ref().is_some_and(|l| l.iter().any(|x| x == v))
    };
    if !groups.is_empty() {
        out.push_str("<p class=\"groups\">Groups: ");
        for g in groups {
            out.push_str(&format!(
                "<label><input type=\"checkbox\" name=\"group\" value=\"{v}\"{c}> {v}</label> ",
                v = esc(g),
                c = checked(mine(&sub.groups, g))
            ));
        }
        out.push_str("</p>");
    }
    out.push_str("<p class=\"components\">Components: ");
    for c in &infos {
        out.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"component\" value=\"{}\"{}> {}</label> ",
            esc(&c.id),
            checked(mine(&sub.components, &c.id)),
            esc(&c.name)
        ));
    }
    out.push_str("</p></fieldset>");
    out
}
