//! Slack's request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
//! "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, checked in constant time over the raw
//! bytes before anything is parsed; requests more than five minutes off are replays.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request is not from Slack (or not from now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp header")]
    MissingTimestamp,
    #[error("missing X-Slack-Signature header")]
    MissingSignature,
    #[error("X-Slack-Request-Timestamp is not a unix time")]
    BadTimestamp,
    #[error("request timestamp is more than 5 minutes from now; refused as a replay")]
    Stale,
    #[error("X-Slack-Signature does not match the request")]
    Mismatch,
}

fn mac(secret: &[u8], ts: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` value Slack sends for this request.
pub fn sign(secret: &[u8], ts: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, ts, body).finalize().into_bytes())
    )
}

/// Checks a request against the signing secret at unix time `now`.
pub fn verify(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = |name: &str, missing: SignatureError, unreadable: SignatureError| {
        let v = headers.get(name).ok_or(missing)?;
        v.to_str().map(str::trim).map_err(|_| unreadable)
    };
    let ts = header(
        "x-slack-request-timestamp",
        SignatureError::MissingTimestamp,
        SignatureError::BadTimestamp,
    )?;
    let signature = header(
        "x-slack-signature",
        SignatureError::MissingSignature,
        SignatureError::Mismatch,
    )?;
    let when: i64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Mismatch)?;
    mac(secret.expose().as_bytes(), ts, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example (protocols.md §3).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-request-timestamp", ts.parse().unwrap());
        h.insert("x-slack-signature", sig.parse().unwrap());
        h
    }

    #[test]
    fn slacks_documented_example_signs_and_verifies() {
        assert_eq!(BODY.len(), 362);
        assert_eq!(sign(SECRET.as_bytes(), TS, BODY.as_bytes()), EXPECTED);
        let now = TS.parse::<i64>().unwrap() + 10;
        assert_eq!(
            verify(
                &Secret::new(SECRET),
                &headers(TS, EXPECTED),
                BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_secret_or_signature_is_refused() {
        let now = TS.parse::<i64>().unwrap();
        let secret = Secret::new(SECRET);
        let mut body = BODY.as_bytes().to_vec();
        body[0] = b'T';
        assert_eq!(
            verify(&secret, &headers(TS, EXPECTED), &body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &Secret::new("other"),
                &headers(TS, EXPECTED),
                BODY.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        let wrong = EXPECTED.replace("a2114", "a2115");
        for sig in [wrong.as_str(), "v1=a2114d", "v0=zz", ""] {
            assert_eq!(
                verify(&secret, &headers(TS, sig), BODY.as_bytes(), now),
                Err(SignatureError::Mismatch),
                "{sig}"
            );
        }
    }

    #[test]
    fn old_or_future_timestamps_are_replays() {
        let secret = Secret::new(SECRET);
        let ts = TS.parse::<i64>().unwrap();
        for now in [ts + MAX_SKEW_SECS + 1, ts - MAX_SKEW_SECS - 1] {
            assert_eq!(
                verify(&secret, &headers(TS, EXPECTED), BODY.as_bytes(), now),
                Err(SignatureError::Stale)
            );
        }
        assert_eq!(
            verify(
                &secret,
                &headers(TS, EXPECTED),
                BODY.as_bytes(),
                ts + MAX_SKEW_SECS
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let secret = Secret::new(SECRET);
        let mut h = headers(TS, EXPECTED);
        h.remove("x-slack-signature");
        assert_eq!(
            verify(&secret, &h, BODY.as_bytes(), 0),
            Err(SignatureError::MissingSignature)
        );
        let mut h = headers(TS, EXPECTED);
        h.remove("x-slack-request-timestamp");
        assert_eq!(
            verify(&secret, &h, BODY.as_bytes(), 0),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(&secret, &headers("yesterday", EXPECTED), BODY.as_bytes(), 0),
            Err(SignatureError::BadTimestamp)
        );
    }
}
