//! The internal board at `/internal` and manual incidents, over HTTP and in a browser; the
//! command line's `incidents` commands.

mod browser;
mod cli;
mod http;
mod manual;
mod replicas;

use reqwest::header::HeaderMap;

use crate::harness::*;

/// A browser's view of the board: cookies by hand, redirects not followed.
pub struct Board<'a> {
    pub s: &'a Server,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookie(&self) -> String {
        self.headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// Who is asking: nobody, a session cookie, or a bearer token.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Nobody,
    Cookie(&'a str),
    Bearer(&'a str),
}

impl<'a> Board<'a> {
    pub fn new(s: &'a Server) -> Self {
        Board {
            s,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, who: As<'_>) -> Answer {
        let req = match who {
            As::Nobody => req,
            As::Cookie(c) => req.header("cookie", format!("statusgate_board={c}")),
            As::Bearer(t) => req.bearer_auth(t),
        };
        let r = req.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str, who: As<'_>) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.s.url)), who)
            .await
    }

    pub async fn post(&self, path: &str, who: As<'_>, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = self
            .http
            .post(format!("{}{path}", self.s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req, who).await
    }

    /// Signs in with `token`; the session cookie's value and its whole `Set-Cookie`.
    pub async fn sign_in(&self, token: &str) -> (String, String) {
        let a = self
            .post("/internal/login", As::Nobody, &[("token", token)])
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location(), "/internal");
        let set = a.set_cookie();
        let value = set
            .split(';')
            .next()
            .and_then(|p| p.strip_prefix("statusgate_board="))
            .unwrap_or_else(|| panic!("no session cookie: {set}"))
            .to_string();
        (value, set)
    }

    /// The board as `who` sees it, with the CSRF token of its forms ("" when none).
    pub async fn board(&self, who: As<'_>) -> (String, String) {
        let a = self.get("/internal", who).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let csrf = csrf_of(&a.body);
        (a.body, csrf)
    }
}

/// The `csrf` field's value in a page's forms ("" when it has none).
pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

/// Fires one api-gateway alert and waits for its pending draft.
pub async fn pending_draft(s: &Server) -> serde_json::Value {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "b1",
            "api-gateway",
            "critical",
            true,
            "2026-11-30T12:00:00Z",
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    s.wait_draft("api draft", |d| d["state"] == "pending").await
}
