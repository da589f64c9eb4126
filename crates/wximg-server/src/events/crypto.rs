//! The platform's message signing and encryption, byte for byte as the platform's own
//! `WXBizMsgCrypt` samples (and wechatpy's `WeChatCrypto`) do it.
//!
//! Invariant: what [`encrypt`] makes, [`decrypt`] (and every SDK's decrypt) reads back to
//! the same XML and appid; [`signature`] is the platform's SHA-1 of the sorted parts. The
//! known vectors in the tests are the ones wechatpy's own test suite checks.
//!
//! - **Signature** (plaintext mode's `signature`): hex SHA-1 of `token`, `timestamp` and
//!   `nonce` sorted as strings and joined. Safe mode's `msg_signature` adds the `Encrypt`
//!   text as a fourth part.
//! - **Key**: the EncodingAESKey is 43 base64 characters; with one `=` appended they
//!   decode to the 32-byte AES-256 key. The IV is the key's first 16 bytes.
//! - **Plaintext**: 16 random bytes ‖ the XML's length (u32, big-endian) ‖ the XML ‖ the
//!   appid, padded PKCS#7-style to a multiple of **32** bytes (not AES's 16: pad bytes
//!   1..=32, each the pad's length), then AES-256-CBC without further padding, then
//!   base64.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use sha1::{Digest, Sha1};

/// The block the platform pads to (twice AES's).
const PAD_BLOCK: usize = 32;

/// Standard base64 that, like Python's `b64decode`, accepts non-zero trailing bits: a
/// random 43-character EncodingAESKey's last character usually has some.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The platform's signature: hex SHA-1 of `parts` sorted and concatenated.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut sha = Sha1::new();
    for part in sorted {
        sha.update(part.as_bytes());
    }
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an EncodingAESKey is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an EncodingAESKey has 43 characters, this one has {0}")]
    Length(usize),
    #[error("an EncodingAESKey is made of A-Z, a-z, 0-9, + and / only")]
    Alphabet,
}

/// An app's AES-256 key, from its EncodingAESKey.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(…)")
    }
}

impl AesKey {
    /// The key of a 43-character EncodingAESKey.
    pub fn parse(encoding_aes_key: &str) -> Result<AesKey, KeyError> {
        let n = encoding_aes_key.chars().count();
        if n != 43 {
            return Err(KeyError::Length(n));
        }
        if !encoding_aes_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(KeyError::Alphabet);
        }
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| KeyError::Alphabet)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Alphabet)?;
        Ok(AesKey(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// A new random EncodingAESKey (43 characters), for `wximg app callback --aes-key new`.
pub fn new_encoding_aes_key() -> String {
    let key: [u8; 32] = rand::random();
    let mut text = base64::engine::general_purpose::STANDARD.encode(key);
    text.truncate(43);
    text
}

/// The platform's `Encrypt` text of `xml` for `appid`, with `random` as its first bytes.
pub fn encrypt(key: &AesKey, appid: &str, xml: &[u8], random: [u8; 16]) -> String {
    let mut plain = Vec::with_capacity(16 + 4 + xml.len() + appid.len() + PAD_BLOCK);
    plain.extend_from_slice(&random);
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml);
    plain.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.resize(plain.len() + pad, pad as u8);
    let cipher = cbc::Encryptor::<Aes256>::new(&key.0.into(), &key.iv().into());
    let sealed = cipher.encrypt_padded_vec_mut::<NoPadding>(&plain);
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

/// Why an `Encrypt` text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an encrypted message of this key: {0}")]
pub struct DecryptError(&'static str);

/// The XML and appid inside an `Encrypt` text (what a receiver does; wximg's tests use it).
pub fn decrypt(key: &AesKey, encrypted: &str) -> Result<(Vec<u8>, String), DecryptError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| DecryptError("not base64"))?;
    if sealed.is_empty() || sealed.len() % 16 != 0 {
        return Err(DecryptError("not whole AES blocks"));
    }
    let cipher = cbc::Decryptor::<Aes256>::new(&key.0.into(), &key.iv().into());
    let plain = cipher
        .decrypt_padded_vec_mut::<NoPadding>(&sealed)
        .map_err(|_| DecryptError("not whole AES blocks"))?;
    let pad = *plain.last().ok_or(DecryptError("empty"))? as usize;
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err(DecryptError("bad padding"));
    }
    let body = &plain[..plain.len() - pad];
    if body.len() < 20 {
        return Err(DecryptError("too short"));
    }
    let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let rest = &body[20..];
    if len > rest.len() {
        return Err(DecryptError("length past the end"));
    }
    let appid = std::str::from_utf8(&rest[len..]).map_err(|_| DecryptError("appid not UTF-8"))?;
    Ok((rest[..len].to_vec(), appid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vectors of wechatpy's tests/test_crypto.py (the platform's sample key and appid).
    const TOKEN: &str = "123456";
    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const APPID: &str = "wx49f0ab532d5d035a";

    #[test]
    fn encrypts_as_wechatpy_expects() {
        let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let key = AesKey::parse(KEY).expect("key");
        let encrypted = encrypt(&key, APPID, reply.as_bytes(), *b"1234567890123456");
        assert_eq!(
            encrypted,
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
        assert_eq!(
            signature(&[TOKEN, "1411525903", "461056294", &encrypted]),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
    }

    #[test]
    fn decrypts_wechatpys_message() {
        let encrypted = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert_eq!(
            signature(&[TOKEN, "1411525903", "461056294", encrypted]),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
        );
        let (xml, appid) = decrypt(&AesKey::parse(KEY).expect("key"), encrypted).expect("decrypts");
        assert_eq!(appid, APPID);
        let xml = String::from_utf8(xml).expect("utf-8");
        assert!(xml.contains("<Content><![CDATA[test]]></Content>"), "{xml}");
    }

    #[test]
    fn round_trips_every_padding_length() {
        let key = AesKey::parse(&new_encoding_aes_key()).expect("a new key parses");
        for n in 0..70 {
            let xml = "x".repeat(n);
            let random: [u8; 16] = rand::random();
            let sealed = encrypt(&key, "wx0123456789abcdef", xml.as_bytes(), random);
            let (back, appid) = decrypt(&key, &sealed).expect("decrypts");
            assert_eq!(back, xml.as_bytes());
            assert_eq!(appid, "wx0123456789abcdef");
        }
    }

    #[test]
    fn plaintext_signature_is_sorted_sha1() {
        // wechatpy's check_signature vector (tests/test_utils.py's WeChatSigner).
        assert_eq!(
            signature(&["1411443780", "437374425", TOKEN]),
            signature(&[TOKEN, "437374425", "1411443780"])
        );
        assert_eq!(
            signature(&["a"]),
            "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
        );
    }

    #[test]
    fn bad_keys_say_why() {
        assert_eq!(AesKey::parse("short"), Err(KeyError::Length(5)));
        assert_eq!(
            AesKey::parse(&format!("{}-", &KEY[..42])),
            Err(KeyError::Alphabet)
        );
        assert!(AesKey::parse(KEY).is_ok());
    }
}
