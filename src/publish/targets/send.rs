//! How the worker sends one entry to a webhook endpoint or an email address: events and
//! mails are built from the public incident, and a repeat that would show nothing new is
//! not sent.

use super::email::{self, Mail};
use super::webhook::{self, SigningKey};
use crate::publish::outbox::deliver::Worker;
use crate::publish::outbox::event::Message;
use crate::publish::outbox::Entry;
use crate::publish::subscribers::{LinkPurpose, Subscriber};
use crate::publish::targets::{Failure, Outcome};
use crate::store::StoreError;

impl Worker {
    pub(in crate::publish) async fn send_webhook(
        &self,
        e: &mut Entry,
        (url, key): (&str, &SigningKey),
        only: Option<&[String]>,
        audience: Option<&str>,
    ) -> std::result::Result<Outcome, Failure> {
        let Some(a) = e.publication().cloned() else {
            return Err(Failure::permanent(0, "webhooks carry publications only"));
        };
        let digest_key = format!("digest/{}/{}", e.target, e.thread);
        if e.events.is_empty() {
            let last: Option<String> = self.outbox.record(&digest_key).map_err(store)?;
            if last.as_deref() == Some(a.digest(only).as_str()) {
                return Ok(Outcome::Unchanged);
            }
            // Frozen now, so that every retry sends the same events under the same ids.
            let name_of = |id: &str| self.component_name(id);
            let (page, key) = self.page_of(audience);
            let page = (page.as_str(), key.as_str());
            e.events = if a.kind.is_maintenance() {
                webhook::maintenance_events(&a, &name_of, only, page)
            } else {
                let incident = self.incident_of(e)?;
                let update_id = format!("{}-r{}", a.draft_id, a.revision);
                // The timeline names every component the update moved; this reader is
                // told only of those it sees.
                let seen = self.public.visibility(audience);
                let affected: Vec<_> = incident
                    .updates
                    .iter()
                    .find(|u| u.id == update_id)
                    .map(|u| u.affected_components.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| seen.component(&c.code))
                    .collect();
                webhook::events(&a, &incident, &affected, &name_of, only, page)
            };
            self.outbox.save(e).map_err(store)?;
        }
        while e.sent < e.events.len() {
            let id = format!("msg_{}_{}", e.id.trim_start_matches('0'), e.sent);
            let body = serde_json::to_vec(&e.events[e.sent])
                .map_err(|err| Failure::permanent(0, err.to_string()))?;
            self.sender.send(url, key, &id, &body).await?;
            e.sent += 1;
            self.outbox.save(e).map_err(store)?;
        }
        self.outbox
            .put_record(&digest_key, &a.digest(only))
            .map_err(store)?;
        Ok(Outcome::Sent(format!("{} event(s)", e.events.len())))
    }

    pub(in crate::publish) async fn send_mail(
        &self,
        e: &Entry,
        s: &Subscriber,
        to: &str,
    ) -> std::result::Result<Outcome, Failure> {
        Failure::check_lease()?;
        let Some(mailer) = &self.targets.mailer else {
            return Err(Failure::permanent(
                0,
                "no `smtp:` configured for email subscribers",
            ));
        };
        let base = self.public_url.trim_end_matches('/');
        let subs = self.outbox.subscribers();
        let unsubscribe_url = format!(
            "{base}/subscribers/unsubscribe?token={}",
            subs.token(&s.id, LinkPurpose::Unsubscribe)
        );
        let digest_key = format!("digest/{}/{}", e.target, e.thread);
        let (subject, text) = match &e.message {
            Message::ConfirmSubscription => {
                let confirm_url = format!(
                    "{base}/subscribers/confirm?token={}",
                    subs.token(&s.id, LinkPurpose::Confirm)
                );
                email::confirm_text(&self.page_name, &confirm_url, &unsubscribe_url)
            }
            Message::MirrorRefresh => {
                return Err(Failure::permanent(0, "a mirror refresh is not for email"))
            }
            Message::Publication(a) => {
                let chosen = s.only(&self.outbox.infos());
                let only = chosen.as_deref();
                let last: Option<String> = self.outbox.record(&digest_key).map_err(store)?;
                if last.as_deref() == Some(a.digest(only).as_str()) {
                    return Ok(Outcome::Unchanged);
                }
                let components: Vec<_> = a
                    .components
                    .iter()
                    .filter(|(id, _)| only.is_none_or(|o| o.contains(id)))
                    .map(|(id, st)| (self.component_name(id), *st))
                    .collect();
                let id = if a.kind.is_maintenance() {
                    a.draft_id.clone()
                } else {
                    self.incident_of(e)?.id
                };
                let (page, key) = self.page_of(s.audience.as_deref());
                let url = format!("{page}/incidents/{id}{key}");
                email::publication_text(&self.page_name, a, &url, &components, &unsubscribe_url)
            }
        };
        let host = url_host(base);
        let mail = Mail {
            to: to.to_string(),
            subject,
            text,
            unsubscribe_url,
            message_id: format!("<{}.{}@{host}>", e.id.trim_start_matches('0'), s.id),
        };
        mailer.send(&mail).await?;
        if let Some(a) = e.publication() {
            let digest = a.digest(s.only(&self.outbox.infos()).as_deref());
            self.outbox
                .put_record(&digest_key, &digest)
                .map_err(store)?;
        }
        Ok(Outcome::Sent(format!("mail to subscriber {}", s.id)))
    }

    /// The page a reader of `audience` follows links to, and the `?key=` that opens it.
    fn page_of(&self, audience: Option<&str>) -> (String, String) {
        let base = self.public_url.trim_end_matches('/');
        match audience.and_then(|id| self.audiences.iter().find(|a| a.id == id)) {
            Some(a) => (format!("{base}/a/{}", a.id), format!("?key={}", a.key())),
            None => (base.to_string(), String::new()),
        }
    }

    fn component_name(&self, id: &str) -> String {
        self.public
            .component_info(id)
            .map(|c| c.name)
            .unwrap_or_else(|| id.to_string())
    }

    fn incident_of(&self, e: &Entry) -> std::result::Result<crate::publish::Incident, Failure> {
        let draft = e
            .draft_id
            .as_deref()
            .map(|d| self.drafts.get(d))
            .transpose()
            .map_err(store)?
            .flatten();
        let incident = draft
            .and_then(|d| d.incident_id)
            .map(|id| self.public.incident(&id))
            .transpose()
            .map_err(store)?
            .flatten();
        incident
            .ok_or_else(|| Failure::transient(None, "the public incident is not there yet", None))
    }
}

fn store(e: StoreError) -> Failure {
    Failure::transient(None, e.to_string(), None)
}

/// The host of the public URL, for Message-IDs.
pub(super) fn url_host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("statusgate")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_use_the_public_host() {
        assert_eq!(
            url_host("https://status.example.com/x"),
            "status.example.com"
        );
        assert_eq!(url_host("http://127.0.0.1:8080"), "127.0.0.1");
    }
}
