//! Rate limits (governor). Over the limit a sender is told when to come back; what the
//! status code is depends on who is asking: Alertmanager drops anything 4xx, so its
//! endpoint answers 503 (retried), PagerDuty retries 429, readers get 429.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateConfig;

/// A limit per key (a token, a subscription, a client address).
#[derive(Clone)]
pub struct KeyedLimit {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn quota(rate: RateConfig) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst.max(rate.per_second).max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

impl KeyedLimit {
    pub fn new(rate: RateConfig) -> Self {
        KeyedLimit {
            limiter: Arc::new(RateLimiter::keyed(quota(rate))),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when `key` is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys that are back to a full budget, so many clients do not grow memory.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// One limit for everything, such as drafts per hour.
#[derive(Clone)]
pub struct DirectLimit {
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl DirectLimit {
    pub fn per_hour(n: u32) -> Self {
        let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        DirectLimit {
            limiter: Arc::new(RateLimiter::direct(Quota::per_hour(n))),
        }
    }

    pub fn check(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// Whole seconds to put in `Retry-After`, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_own_budget_and_say_when_to_retry() {
        let limit = KeyedLimit::new(RateConfig {
            per_second: 1,
            burst: 2,
        });
        assert!(limit.check("a").is_ok());
        assert!(limit.check("a").is_ok());
        let wait = limit.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(1));
        assert!(limit.check("b").is_ok(), "another key is not affected");
        assert_eq!(retry_after_secs(Duration::from_millis(300)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}

/// Who a request comes from, for per-client limits: the connection's address, or, behind a
/// proxy the operator trusts, the last address in the configured header (the one the
/// proxy itself saw; earlier entries are the client's to forge).
pub fn client_key(req: &axum::extract::Request, trusted_header: Option<&str>) -> String {
    if let Some(name) = trusted_header {
        if let Some(addr) = req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return addr.to_string();
        }
    }
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A per-client limit for readers (the public page, the management API): 429 with
/// `Retry-After` over the limit.
#[derive(Clone)]
pub struct ReaderLimit {
    pub limit: KeyedLimit,
    pub scope: &'static str,
    pub trusted_header: Option<String>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub async fn limit_readers(
    axum::extract::State(l): axum::extract::State<ReaderLimit>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let key = client_key(&req, l.trusted_header.as_deref());
    match l.limit.check(&key) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            l.metrics.rate_limited(l.scope);
            let mut e = crate::http::ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too many requests; slow down and retry after the time in Retry-After",
            );
            e.retry_after = Some(retry_after_secs(wait));
            e.into_response()
        }
    }
}
