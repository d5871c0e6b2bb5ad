//! Email subscribers over SMTP: a confirm mail (double opt-in), then one mail per published
//! update, each with a one-click unsubscribe (a link, and the RFC 8058 `List-Unsubscribe` +
//! `List-Unsubscribe-Post` headers).

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Secret, SmtpConfig};
use crate::publish::outbox::event::Approved;
use crate::publish::targets::Failure;
use crate::vocab::ComponentStatus;

const FOOTER: &str = "You receive this because this address subscribed to status updates.";

/// The double opt-in mail: subject and text.
pub fn confirm_text(page: &str, confirm_url: &str, unsubscribe_url: &str) -> (String, String) {
    (
        format!("Confirm your subscription to {page}"),
        format!(
            "Someone, hopefully you, asked to receive status updates from {page} at this address.\n\n\
             To confirm, open this link:\n{confirm_url}\n\n\
             If it was not you, ignore this mail: nothing will be sent without confirmation.\n\n\
             -- \nUnsubscribe: {unsubscribe_url}\n"
        ),
    )
}

/// One published incident update or maintenance notice (scheduled, started, completed or
/// cancelled): subject and text. `url` is its page.
pub fn publication_text(
    page: &str,
    a: &Approved,
    url: &str,
    components: &[(String, ComponentStatus)],
    unsubscribe_url: &str,
) -> (String, String) {
    let (subject, mut text) = if a.kind.is_maintenance() {
        maintenance_head(page, a, components)
    } else {
        update_head(page, a, components)
    };
    text.push_str(&format!(
        "\nDetails: {url}\n\n-- \n{FOOTER}\nUnsubscribe with one click: {unsubscribe_url}\n"
    ));
    (subject, text)
}

fn update_head(
    page: &str,
    a: &Approved,
    components: &[(String, ComponentStatus)],
) -> (String, String) {
    let mut text = format!("{}\n\n{}: {}\n", a.title, a.status.label(), a.body);
    if !components.is_empty() {
        text.push_str("\nAffected components:\n");
        for (name, status) in components {
            text.push_str(&format!("- {name}: {}\n", status.label()));
        }
    }
    (format!("[{page}] {} ({})", a.title, a.status.label()), text)
}

fn maintenance_head(
    page: &str,
    a: &Approved,
    components: &[(String, ComponentStatus)],
) -> (String, String) {
    use crate::publish::outbox::event::EventKind;
    let what = match a.kind {
        EventKind::MaintenanceScheduled => "Scheduled maintenance",
        EventKind::MaintenanceStarted => "Maintenance started",
        EventKind::MaintenanceCompleted => "Maintenance completed",
        EventKind::MaintenanceCancelled => "Maintenance cancelled",
        _ => "Maintenance update",
    };
    let mut text = format!("{}\n\n{what}: {}\n", a.title, a.body);
    if let Some(s) = &a.schedule {
        text.push_str(&format!(
            "\nWindow: {} to {} (UTC)\n",
            s.scheduled_for.format("%Y-%m-%d %H:%M"),
            s.scheduled_until.format("%Y-%m-%d %H:%M")
        ));
    }
    if !components.is_empty() {
        text.push_str("\nComponents:\n");
        for (name, _) in components {
            text.push_str(&format!("- {name}\n"));
        }
    }
    (format!("[{page}] {what}: {}", a.title), text)
}

/// One mail to send: who, what, and the link that unsubscribes them.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub unsubscribe_url: String,
    /// Stable per outbox entry, so a mail sent again after a crash is recognisably the same.
    pub message_id: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig, password: Option<&Secret>) -> Result<Mailer, String> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("smtp.from: `{}` is not an address: {e}", cfg.from))?;
        let mut builder = if cfg.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
                .map_err(|e| format!("smtp: {e}"))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        };
        builder = builder
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(pass)) = (&cfg.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().into()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), Failure> {
        let to: Mailbox = mail.to.parse().map_err(|e| {
            Failure::permanent(550, format!("`{}` is not an address: {e}", mail.to))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{}>", mail.unsubscribe_url),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| Failure::permanent(550, format!("cannot build the mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(Failure::permanent(
                550,
                format!("the SMTP server refused the mail: {e}"),
            )),
            Err(e) => Err(Failure::transient(None, format!("SMTP: {e}"), None)),
        }
    }
}
