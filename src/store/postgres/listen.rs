//! Telling the other replicas: a write that others must react to (the public state the page
//! renders, new alerts for the pipeline, new outbox entries) is announced with NOTIFY; every
//! replica LISTENs on one channel of its own connection and runs the callbacks registered
//! for the topic. Notifications are lost while a connection is down, so after every
//! (re)connect each callback runs once, and versioned topics are also polled every second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::AsyncMessage;

use super::{classify, PgStore};

const CHANNEL: &str = "statusgate";
/// How often versioned topics are compared with the database, whatever NOTIFY says.
const POLL: Duration = Duration::from_secs(1);

pub(crate) type Callback = Arc<dyn Fn() + Send + Sync>;

/// A topic's notification: none in flight, one in flight, one in flight and another due.
const IDLE: u8 = 0;
const SENDING: u8 = 1;
const AGAIN: u8 = 2;

#[derive(Default)]
pub(super) struct Listeners {
    callbacks: Mutex<HashMap<String, Vec<Callback>>>,
    started: std::sync::atomic::AtomicBool,
    sending: Mutex<HashMap<&'static str, Arc<AtomicU8>>>,
}

/// How long announcements of one topic gather after a notification before the next.
const FOLD: std::time::Duration = std::time::Duration::from_millis(2);
impl Listeners {
    fn sending(&self, topic: &'static str) -> Arc<AtomicU8> {
        self.sending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic)
            .or_default()
            .clone()
    }

    fn fire(&self, topic: &str) {
        let callbacks = self
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
            .unwrap_or_default();
        for c in callbacks {
            c();
        }
    }

    fn topics(&self) -> Vec<String> {
        self.callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn fire_all(&self) {
        for t in self.topics() {
            self.fire(&t);
        }
    }
}

/// The counter a versioned topic bumps (read by the poll).
fn version_key(topic: &str) -> String {
    format!("version/{topic}")
}

impl PgStore {
    /// Tells every replica (this one included) about `topic`; a versioned topic also moves
    /// its counter, so a replica that missed the notification still sees it within a second.
    pub(crate) fn announce(&self, topic: &'static str, versioned: bool) {
        if versioned {
            if let Err(e) = self.counter_key(&version_key(topic)) {
                tracing::warn!(topic, error = %e, "could not record a change for other replicas");
            }
        }
        // One NOTIFY in flight per topic, and a short pause after it; announcements meanwhile
        // are folded into one more after that, so a stream of commits costs a notification
        // every few milliseconds, not one each.
        let state = self.inner.listeners.sending(topic);
        loop {
            match state.compare_exchange(IDLE, SENDING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(SENDING) => {
                    if state
                        .compare_exchange(SENDING, AGAIN, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let pg = self.clone();
        // Not awaited: the writer's answer does not wait for the other replicas.
        self.inner.handle.spawn(async move {
            loop {
                if let Ok(client) = pg.client().await {
                    if let Ok(notify) = client.prepare_cached("SELECT pg_notify($1, $2)").await {
                        let _ = client.execute(&notify, &[&CHANNEL, &topic]).await;
                    }
                }
                tokio::time::sleep(FOLD).await;
                if state
                    .compare_exchange(AGAIN, SENDING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    continue;
                }
                if state
                    .compare_exchange(SENDING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break;
                }
            }
        });
    }

    /// Runs `callback` whenever `topic` is announced by any replica.
    pub(crate) fn on_announce(&self, topic: &'static str, callback: Callback) {
        self.inner
            .listeners
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic.to_string())
            .or_default()
            .push(callback);
        if !self
            .inner
            .listeners
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let pg = self.clone();
            self.inner.handle.spawn(async move { pg.listen().await });
        }
    }

    /// Runs for the life of the store.
    async fn listen(self) {
        let listeners = &self.inner.listeners;
        let mut versions: HashMap<String, Option<String>> = HashMap::new();
        loop {
            let connected = self.inner.config.connect(self.inner.tls.clone()).await;
            let (client, mut connection) = match connected {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "listener cannot connect; trying again");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let driver = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(n) = message {
                        let _ = tx.send(n.payload().to_string());
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_err()
            {
                driver.abort();
                continue;
            }
            // Whatever was announced while not listening is caught up on now.
            listeners.fire_all();
            loop {
                tokio::select! {
                    topic = rx.recv() => match topic {
                        Some(t) => listeners.fire(&t),
                        None => break,
                    },
                    _ = tokio::time::sleep(POLL) => {
                        for topic in listeners.topics() {
                            let row = client
                                .query_opt(
                                    "SELECT value FROM statusgate_records WHERE tbl = 'meta' AND key = $1",
                                    &[&version_key(&topic)],
                                )
                                .await
                                .map_err(classify);
                            let Ok(row) = row else { break };
                            let now = row.map(|r| r.get::<_, String>(0));
                            let before = versions.insert(topic.clone(), now.clone());
                            if before.is_some_and(|b| b != now) {
                                listeners.fire(&topic);
                            }
                        }
                        if client.is_closed() {
                            break;
                        }
                    }
                }
            }
            driver.abort();
        }
    }
}
