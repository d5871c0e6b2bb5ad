//! Email subscribers against a local SMTP server that captures every message: double
//! opt-in, a mail per published update, and one-click unsubscribe (RFC 8058).

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::harness::*;
use crate::publish_statuspage::{approve_next, fire, settled, DEGRADE};

/// A minimal SMTP server (RFC 5321 commands a client without extensions uses).
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    pub(crate) messages: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn smtp_sink() -> SmtpSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let store = messages.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 OK\r\n",
                        "DATA" => {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                            }
                            store.lock().unwrap().push(data);
                            b"250 OK queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    SmtpSink {
        port,
        messages,
        task,
    }
}

/// A captured mail: unfolded headers and the decoded text.
pub(crate) struct Mail {
    headers: Vec<(String, String)>,
    pub(crate) text: String,
}

impl Mail {
    pub(crate) fn parse(raw: &str) -> Mail {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push_str(line.trim_start());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mail = Mail {
            headers,
            text: String::new(),
        };
        let text = match mail.header("content-transfer-encoding") {
            Some("quoted-printable") => quoted_printable(body),
            Some("base64") => {
                use base64::Engine;
                let joined: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .unwrap(),
                )
                .unwrap()
            }
            _ => body.to_string(),
        };
        // SMTP lines end in CRLF; the text statusgate wrote used LF.
        Mail {
            text: text.replace("\r\n", "\n"),
            ..mail
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first link in the text that starts with `prefix`.
    pub(crate) fn link(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link {prefix} in:\n{}", self.text));
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

fn quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Some(Ok(b)) = joined.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_subscribers_confirm_get_updates_and_unsubscribe_in_one_click() {
    let sink = smtp_sink().await;
    let s = Server::start(Options {
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\nsmtp:\n  host: 127.0.0.1\n  port: {}\n  from: 'Example Status <status@example.com>'\n",
            sink.port
        ),
        ..Options::default()
    });
    let mails = || -> Vec<Mail> {
        sink.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| Mail::parse(m))
            .collect()
    };
    let local = |link: &str| link.replace("http://status.example.com", &s.url);

    let (status, sub) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": "ops@example.net", "components": ["api"]})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["state"], "pending_confirmation");
    let id = sub["id"].as_str().unwrap().to_string();
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": "OPS@example.net"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": "not an address"})),
        )
        .await;
    assert_eq!(status, 422);

    let confirm = eventually("the confirm mail", Duration::from_secs(20), async || {
        mails().into_iter().next()
    })
    .await;
    assert_eq!(confirm.header("to"), Some("ops@example.net"));
    assert!(confirm
        .header("from")
        .unwrap()
        .contains("status@example.com"));
    assert!(confirm
        .header("subject")
        .unwrap()
        .starts_with("Confirm your subscription"));
    let link = confirm.link("http://status.example.com/subscribers/confirm?token=");
    let unsubscribe = confirm.header("list-unsubscribe").unwrap().to_string();
    assert!(
        unsubscribe.starts_with("<http://status.example.com/subscribers/unsubscribe?token="),
        "{unsubscribe}"
    );
    assert_eq!(
        confirm.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );

    // Nothing goes to an address that has not confirmed.
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let (_, d) = s
        .get(
            &format!(
                "/api/v1/drafts/{}/deliveries",
                created["id"].as_str().unwrap()
            ),
            Some(READER),
        )
        .await;
    assert_eq!(d["deliveries"], json!([]), "{d}");

    // A forged link does nothing; the real one shows a button, and the button confirms.
    let forged = format!("{}/subscribers/confirm?token={id}.00ff", s.url);
    assert_eq!(s.http.post(&forged).send().await.unwrap().status(), 404);
    let page = s.http.get(local(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let (_, still) = s
        .get(&format!("/api/v1/subscribers/{id}"), Some(ADMIN))
        .await;
    assert_eq!(still["state"], "pending_confirmation", "a GET confirmed it");
    let r = s.http.post(local(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Subscription confirmed"));
    let (_, active) = s
        .get(&format!("/api/v1/subscribers/{id}"), Some(ADMIN))
        .await;
    assert_eq!(active["state"], "active", "{active}");

    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let all = mails();
    assert_eq!(
        all.len(),
        2,
        "{:?}",
        all.iter().map(|m| m.header("subject")).collect::<Vec<_>>()
    );
    let mail = &all[1];
    assert_eq!(mail.header("to"), Some("ops@example.net"));
    let subject = mail.header("subject").unwrap();
    assert!(
        subject.contains(update["title"].as_str().unwrap()),
        "{subject}"
    );
    assert!(
        mail.text.contains(update["body"].as_str().unwrap()),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("Public API: Degraded performance"),
        "{}",
        mail.text
    );
    assert_eq!(
        mail.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );
    let one_click = mail
        .header("list-unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    assert!(
        mail.text.contains(&one_click),
        "the text lacks the unsubscribe link"
    );

    // RFC 8058: a POST of `List-Unsubscribe=One-Click` to that URL unsubscribes.
    let r = s
        .http
        .post(local(&one_click))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = s
        .get(&format!("/api/v1/subscribers/{id}"), Some(ADMIN))
        .await;
    assert_eq!(status, 404);
    fire(&s, &[("f2", "warning", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    let (_, d) = s
        .get(
            &format!(
                "/api/v1/drafts/{}/deliveries",
                resolution["id"].as_str().unwrap()
            ),
            Some(READER),
        )
        .await;
    assert_eq!(d["deliveries"], json!([]));
    assert_eq!(mails().len(), 2);
}
