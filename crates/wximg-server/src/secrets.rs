//! Secrets and tokens: how they are made, hashed and compared.
//!
//! Invariant: no secret or token is ever stored or compared in the clear.
//!
//! Secrets and tokens are high-entropy random values (128 and 256 bits), so a fast keyed
//! hash (BLAKE3) is the right tool to store them — a password hash's slowness defends
//! low-entropy inputs, which these are not. Only hashes are stored; comparisons of hashes
//! are constant-time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use wximg_proto::AppSecret;

/// The stored form of an app secret.
pub fn hash_secret(secret: &AppSecret) -> [u8; 32] {
    blake3::derive_key("wximg 2026 app secret v1", secret.expose().as_bytes())
}

/// The stored form of an access token.
pub fn hash_token(token: &str) -> [u8; 32] {
    blake3::derive_key("wximg 2026 access token v1", token.as_bytes())
}

/// Constant-time equality of two hashes.
pub fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Constant-time equality of two stored hashes written as text (hex), for records that
/// keep them so; a different length is unequal.
pub fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new random access token: 256 bits, URL-safe.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The stable token of generation `nonce`. Derived from the caller's secret so the server
/// can hand the same token to every caller that proves the secret, while storing neither.
pub fn derive_stable_token(secret: &AppSecret, nonce: &[u8; 32]) -> String {
    let mut material = secret.expose().as_bytes().to_vec();
    material.extend_from_slice(nonce);
    URL_SAFE_NO_PAD.encode(blake3::derive_key("wximg 2026 stable token v1", &material))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stable_tokens_derived() {
        assert_ne!(new_token(), new_token());
        assert!(new_token().len() >= 43);
        let s = AppSecret::from_random([1; 16]);
        let n = [9; 32];
        assert_eq!(derive_stable_token(&s, &n), derive_stable_token(&s, &n));
        assert_ne!(
            derive_stable_token(&s, &n),
            derive_stable_token(&s, &[8; 32])
        );
        assert!(same_hash(&hash_token("a"), &hash_token("a")));
        assert!(!same_hash(&hash_token("a"), &hash_token("b")));
    }
}
