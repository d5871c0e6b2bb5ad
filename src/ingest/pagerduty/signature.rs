//! `X-PagerDuty-Signature`: comma-separated `v1=<hex HMAC-SHA256(secret, raw body)>`, several
//! while a secret is rotated. A delivery is authentic if any signature matches under any
//! configured secret.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

pub const HEADER: &str = "x-pagerduty-signature";

/// Why a delivery is not authentic. The messages name no secret and no expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-PagerDuty-Signature header")]
    Missing,
    #[error("X-PagerDuty-Signature carries no v1 signature")]
    NoV1,
    #[error("no signature in X-PagerDuty-Signature matches the body")]
    Mismatch,
}

/// Checks `body` (exactly as received) against every `v1=` signature in the headers.
/// Repeated headers are combined; hex may be in either case; spaces around commas are
/// ignored; other versions are skipped.
pub fn verify(secrets: &[Secret], headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    let values: Vec<&[u8]> = headers
        .get_all(HEADER)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if values.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    let mut any_v1 = false;
    for value in values {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        for part in value.split(',') {
            let Some((version, sig)) = part.trim().split_once('=') else {
                continue;
            };
            if !version.trim().eq_ignore_ascii_case("v1") {
                continue;
            }
            any_v1 = true;
            // A signature that is not hex cannot match; it does not spoil the others.
            if let Ok(bytes) = hex::decode(sig.trim()) {
                candidates.push(bytes);
            }
        }
    }
    if !any_v1 {
        return Err(SignatureError::NoV1);
    }
    for secret in secrets {
        for candidate in &candidates {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                continue;
            };
            mac.update(body);
            // `verify_slice` compares in constant time.
            if mac.verify_slice(candidate).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use sha2::Digest;

    use super::*;

    /// The go-pagerduty test vector (protocols.md §2).
    const SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
    const GOOD: &str = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
    const BAD: &str = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

    /// The header value PagerDuty would send for `body` under `secret`.
    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(m) => m,
            // HMAC accepts keys of any length.
            Err(_) => return String::new(),
        };
        mac.update(body);
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn body() -> Vec<u8> {
        let text = include_str!("../../../tests/fixtures/pagerduty/test-vector.json");
        text.strip_suffix('\n').unwrap_or(text).as_bytes().to_vec()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn the_fixture_is_the_documented_body() {
        let b = body();
        assert_eq!(b.len(), 1655);
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&b)),
            "6ef42c69dbbc0feaff02e04ca31f497cb2bcbecf1a038a636f114cd7cdd2e23a"
        );
        assert_eq!(sign(SECRET, &b), GOOD);
    }

    #[test]
    fn the_documented_signature_passes_and_the_wrong_one_fails() {
        let s = secrets(&[SECRET]);
        assert_eq!(verify(&s, &headers(&[GOOD]), &body()), Ok(()));
        assert_eq!(
            verify(&s, &headers(&[BAD]), &body()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_signatures_and_secrets_may_match() {
        let s = secrets(&["old-secret", SECRET]);
        let both = format!("{BAD},{GOOD}");
        assert_eq!(verify(&s, &headers(&[&both]), &body()), Ok(()));
        let spaced = format!(
            "  {BAD} ,  {}  ",
            GOOD.to_uppercase().replacen("V1", "v1", 1)
        );
        assert_eq!(verify(&s, &headers(&[&spaced]), &body()), Ok(()));
        // Repeated headers are one list.
        assert_eq!(verify(&s, &headers(&[BAD, GOOD]), &body()), Ok(()));
        // Other versions and garbage are skipped, not fatal.
        let mixed = format!("v0=abc, v1=zz-not-hex, {GOOD}");
        assert_eq!(verify(&s, &headers(&[&mixed]), &body()), Ok(()));
    }

    #[test]
    fn a_changed_body_a_wrong_secret_or_no_signature_fails() {
        let mut altered = body();
        altered[100] ^= 1;
        let s = secrets(&[SECRET]);
        assert_eq!(
            verify(&s, &headers(&[GOOD]), &altered),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets(&["another"]), &headers(&[GOOD]), &body()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&s, &HeaderMap::new(), &body()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&s, &headers(&["v2=abcdef"]), &body()),
            Err(SignatureError::NoV1)
        );
        assert_eq!(
            verify(&[], &headers(&[GOOD]), &body()),
            Err(SignatureError::Mismatch)
        );
    }
}
