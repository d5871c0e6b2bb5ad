//! Posting and keeping up to date the notices' Slack messages, and linking a storm's
//! notice to its draft.

use super::*;

impl Notices {
    /// Posts and updates what the notices need, oldest first.
    pub async fn deliver(&mut self, slack: &Slack, now: DateTime<Utc>) -> Result<(), SyncError> {
        for mut n in self.all()? {
            if n.kind == NoticeKind::Storm
                && n.draft_link.is_none()
                && (n.is_open() || n.due(now).is_some())
            {
                self.find_draft(slack, &mut n).await?;
            }
            let Some(due) = n.due(now) else { continue };
            if self.refused.get(&n.id) == Some(&n.version) {
                continue;
            }
            match self.send(slack, &mut n, due, now).await {
                Ok(()) => {}
                Err(SyncError::Slack(SlackError::Refused(code))) => {
                    tracing::error!(notice = %n.id, error = %code, "Slack refused a storm or watchdog notice; fix the Slack settings (channel, scopes, token)");
                    slack.failed(&format!("Slack refused the notice {}: {code}", n.id), false);
                    self.refused.insert(n.id.clone(), n.version);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        slack: &Slack,
        n: &mut Notice,
        due: Due,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        let names = |id: &str| slack.name(id);
        let (text, blocks) =
            notice_blocks::message(n, &names, &slack.mentions(), &slack.inner.storm);
        let client = &slack.inner.client;
        match (due, n.message.clone()) {
            (Due::Post, _) | (_, None) => {
                let (channel, ts) = client
                    .post_message(&slack.inner.channel, &text, &blocks)
                    .await?;
                n.message = Some(Posted {
                    channel,
                    ts,
                    version: n.version,
                    at: now,
                    // Posted after the fact: the message itself tells the end.
                    closed_told: !n.is_open(),
                });
                tracing::info!(notice = %n.id, "posted the notice to Slack");
            }
            (Due::Update | Due::Close, Some(mut m)) => {
                if let Edit::Gone(e) = client
                    .update_message(&m.channel, &m.ts, &text, &blocks)
                    .await?
                {
                    tracing::warn!(notice = %n.id, error = %e, "the notice's Slack message is gone; posting it again");
                    n.message = None;
                    self.table.put(&n.id, n)?;
                    return Box::pin(self.send(slack, n, Due::Post, now)).await;
                }
                if due == Due::Close {
                    // An edit notifies nobody; the end goes to the thread and the channel.
                    let reply = notice_blocks::closed_reply(n);
                    client
                        .call(
                            "chat.postMessage",
                            &json!({"channel": m.channel, "thread_ts": m.ts, "reply_broadcast": true, "text": reply}),
                            Some(&m.channel),
                            Patience::BACKGROUND,
                        )
                        .await?;
                    m.closed_told = true;
                }
                m.version = n.version;
                m.at = now;
                n.message = Some(m);
                tracing::info!(notice = %n.id, closed = due == Due::Close, "updated the notice in Slack");
            }
        }
        self.table.put(&n.id, n)?;
        slack.inner.store.durable().await?;
        Ok(())
    }

    /// Finds the storm group's draft and a link to its message, once they exist.
    async fn find_draft(&mut self, slack: &Slack, n: &mut Notice) -> Result<(), SyncError> {
        let Some(group) = &n.group_id else {
            return Ok(());
        };
        let draft_id = match &n.draft_id {
            Some(id) => id.clone(),
            None => {
                let drafts = slack.inner.approvals.drafts().list(None)?;
                // Newest first: the storm group's latest draft.
                let Some(d) = drafts.into_iter().find(|d| &d.group_id == group) else {
                    return Ok(());
                };
                d.id
            }
        };
        let message: Option<Message> = slack.inner.messages.get(&draft_id)?;
        let link = match message.filter(|_| !self.no_permalink) {
            Some(m) => match slack
                .inner
                .client
                .call(
                    "chat.getPermalink",
                    &[
                        ("channel", m.channel.as_str()),
                        ("message_ts", m.ts.as_str()),
                    ],
                    None,
                    Patience::BACKGROUND,
                )
                .await
            {
                Ok(v) => v["permalink"].as_str().map(String::from),
                Err(e @ SlackError::Refused(_)) => {
                    tracing::warn!(error = %e, "no link to the storm draft's message; the notice names the draft instead");
                    self.no_permalink = true;
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        if n.draft_id.as_deref() != Some(&draft_id) || link.is_some() {
            n.draft_id = Some(draft_id);
            n.draft_link = link;
            n.version += 1;
            self.table.put(&n.id, n)?;
        }
        Ok(())
    }
}
