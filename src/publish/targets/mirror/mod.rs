//! The mirror: the whole public page as static files in an S3-compatible bucket or a
//! directory, so a plain static server (or a bucket website) keeps serving it when
//! statusgate is down.
//!
//! Publish cannot render the page (the page reads publish), so the wiring hands the
//! mirror a [`Surface`] that renders through the page's own router. A sync writes only
//! what changed since the last one (a content hash per file, remembered in the outbox's
//! records) or is missing at the destination (it lists what is there, so an emptied bucket
//! is filled again), and removes files the page no longer has. HTML pages carry the time of the
//! sync and a small script that shows a banner once that time is older than `stale_after`;
//! they are rewritten often enough that a live mirror never looks stale.

mod dest;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::dest::Dest;
use super::{Failure, Outcome};
use crate::publish::outbox::event::Message;
use crate::publish::outbox::{Entry, EntryState, Outbox};

/// The longest time between two syncs when nothing is published (uptime bars move).
pub const REFRESH: Duration = Duration::from_secs(600);

/// The banner script, served by the mirror only (the live page runs no script).
const SCRIPT_PATH: &str = "assets/mirror.js";
const SCRIPT: &str = include_str!("stale.js");

/// The live page's policy, plus the mirror's own script: a bucket website sends no
/// headers of ours, so the page carries its policy itself.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; form-action 'none'";

/// One file of the public page: where it goes (`api/v2/summary.json`,
/// `incidents/{id}/index.html`) and its bytes as the page serves them.
#[derive(Debug, Clone)]
pub struct MirrorFile {
    pub path: String,
    pub body: Bytes,
}

/// Renders the whole public page; given by the wiring.
#[async_trait::async_trait]
pub trait Surface: Send + Sync {
    /// Every file of the public page as it stands now; pages a later file links to come first.
    async fn files(&self) -> Result<Vec<MirrorFile>, String>;
}

#[derive(Clone)]
pub struct Mirror {
    pub name: String,
    dest: Dest,
    stale_after: Duration,
}

/// What the last syncs wrote: per path, the hash of the page's bytes and when.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// The destination these files are in; another one starts from nothing.
    dest: String,
    files: BTreeMap<String, Written>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Written {
    hash: String,
    at: DateTime<Utc>,
}

impl Mirror {
    pub fn new(name: &str, dest: Dest, stale_after: Duration) -> Mirror {
        Mirror {
            name: name.to_string(),
            dest,
            stale_after,
        }
    }

    /// How often to sync when nothing is published: every ten minutes, and often enough
    /// that the time HTML pages carry never passes `stale_after` while statusgate runs.
    pub fn refresh_every(&self) -> Duration {
        REFRESH
            .min(self.stale_after / 2)
            .max(Duration::from_millis(500))
    }

    /// Brings the mirror in line with the page as `surface` renders it now.
    pub async fn deliver(
        &self,
        outbox: &Outbox,
        surface: &dyn Surface,
    ) -> Result<Outcome, Failure> {
        Failure::check_lease()?;
        let mut files = surface
            .files()
            .await
            .map_err(|e| Failure::transient(None, format!("rendering the page: {e}"), None))?;
        files.push(MirrorFile {
            path: SCRIPT_PATH.into(),
            body: Bytes::from_static(SCRIPT.as_bytes()),
        });
        let key = format!("mirror/{}", self.name);
        let here = self.dest.describe();
        let mut manifest = outbox
            .record::<Manifest>(&key)
            .map_err(|e| Failure::transient(None, e.to_string(), None))?
            .filter(|m| m.dest == here)
            .unwrap_or(Manifest {
                dest: here.clone(),
                files: BTreeMap::new(),
            });
        self.dest.prepare().await?;
        let present = self.dest.list().await?;
        let now = Utc::now();
        let stamp_due = now
            - chrono::Duration::from_std(self.stale_after / 2).unwrap_or(chrono::Duration::zero());
        let (mut wrote, mut removed) = (0, 0);
        let result = async {
            for f in &files {
                let hash = hex::encode(Sha256::digest(&f.body));
                let stamped = f.path.ends_with(".html");
                let current = manifest
                    .files
                    .get(&f.path)
                    .is_some_and(|w| w.hash == hash && (!stamped || w.at > stamp_due));
                if current && present.contains(&f.path) {
                    continue;
                }
                Failure::check_lease()?;
                let body = if stamped {
                    stamp(&f.body, now, self.stale_after)
                } else {
                    f.body.clone()
                };
                self.dest.put(&f.path, body, content_type(&f.path)).await?;
                manifest
                    .files
                    .insert(f.path.clone(), Written { hash, at: now });
                wrote += 1;
            }
            let keep: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
            let gone: Vec<String> = manifest
                .files
                .keys()
                .filter(|p| !keep.contains(p.as_str()))
                .cloned()
                .collect();
            for path in gone {
                Failure::check_lease()?;
                self.dest.delete(&path).await?;
                manifest.files.remove(&path);
                removed += 1;
            }
            Ok::<(), Failure>(())
        }
        .await;
        // What landed is remembered even when a later write failed, so a retry goes on from there.
        if wrote + removed > 0 {
            outbox
                .put_record(&key, &manifest)
                .map_err(|e| Failure::transient(None, e.to_string(), None))?;
        }
        result?;
        Ok(if wrote + removed == 0 {
            Outcome::Unchanged
        } else {
            Outcome::Sent(format!(
                "mirrored to {here}: {wrote} file(s) written, {removed} removed"
            ))
        })
    }
}

/// Queues a sync for every mirror that has none waiting (the timer's work). A timed sync
/// that failed for good (refused credentials) is tried again instead of joined by another.
pub fn queue_syncs<'a>(
    outbox: &Outbox,
    mirrors: impl Iterator<Item = &'a String>,
) -> crate::store::Result<()> {
    let active = outbox.active()?;
    let now = Utc::now();
    for name in mirrors {
        let mine: Vec<&Entry> = active.iter().filter(|e| &e.target == name).collect();
        if mine.iter().any(|e| e.state == EntryState::Pending) {
            continue;
        }
        let failed = mine
            .iter()
            .find(|e| e.state == EntryState::Failed && e.message == Message::MirrorRefresh);
        let entry = match failed {
            Some(e) => {
                let mut e = (*e).clone();
                e.retry_now(now);
                e
            }
            None => Entry::new(
                crate::store::seq_key(outbox.store().next_id()?),
                name,
                &format!("mirror/{name}"),
                None,
                Message::MirrorRefresh,
                now,
            ),
        };
        outbox.save(&entry)?;
    }
    outbox.notified().notify_one();
    Ok(())
}

/// The page with the time it shows the state of, its policy and the banner script.
fn stamp(html: &[u8], as_of: DateTime<Utc>, stale_after: Duration) -> Bytes {
    let text = String::from_utf8_lossy(html);
    let head = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n<meta name=\"statusgate-as-of\" content=\"{}\">\n<meta name=\"statusgate-stale-after\" content=\"{}\">\n<script src=\"/{SCRIPT_PATH}\" defer></script>\n",
        as_of.to_rfc3339_opts(SecondsFormat::Secs, true),
        stale_after.as_secs()
    );
    let out = match text.find("</head>") {
        Some(i) => format!("{}{head}{}", &text[..i], &text[i..]),
        None => format!("{head}{text}"),
    };
    Bytes::from(out)
}

/// The `Content-Type` a path's extension implies, as the live page sends it.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        "rss" => "application/rss+xml; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_their_time_policy_and_script() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let out = stamp(
            b"<html><head><title>x</title></head><body></body></html>",
            at,
            Duration::from_secs(600),
        );
        let out = String::from_utf8(out.to_vec()).unwrap();
        assert!(out.contains(r#"<meta name="statusgate-as-of" content="2026-12-06T13:00:00Z">"#));
        assert!(out.contains(r#"content="600""#));
        assert!(out.contains("script-src 'self'"));
        assert!(out.find("/assets/mirror.js").unwrap() < out.find("</head>").unwrap());
    }

    #[test]
    fn extensions_give_the_live_content_types() {
        assert_eq!(
            content_type("api/v2/summary.json"),
            "application/json; charset=utf-8"
        );
        assert_eq!(
            content_type("history.atom"),
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("incidents/x/index.html"),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type("badge.svg"), "image/svg+xml; charset=utf-8");
    }
}
