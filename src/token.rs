//! The key format: generate, pre-check, checksum, keyed hash, display hint. No I/O.
//!
//! A keygate key is `{prefix}_{body}`: the body is 256 bits from the OS CSPRNG written in
//! base62 (43 characters, most significant digit first) followed by 6 base62 characters of
//! the CRC32 (IEEE) of everything before them, `{prefix}_` included. The checksum lets the
//! hot path throw away typos and garbage without hashing or touching the store; secret
//! scanners can find leaked keys with `kg_[0-9A-Za-z]{49}`.
//!
//! At rest only `blake3::keyed_hash(token_salt, key)` is kept — the same construction as
//! rusty-valkey-forward-auth, so its data can be imported with every key still working.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Digits, then upper case, then lower case: the order of `[0-9A-Za-z]`.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256, so 43 digits hold any 256-bit number.
pub const RANDOM_LEN: usize = 43;
/// 62^6 > 2^32: room for any CRC32.
pub const CHECKSUM_LEN: usize = 6;
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Longest credential keygate will even look at; anything longer is refused unhashed.
pub const MAX_KEY_LEN: usize = 512;

/// The key prefix (`kg` by default): 1–16 of `[a-z0-9]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = (1..=16).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(KeyPrefix(s.to_owned()))
        } else {
            Err(format!(
                "key prefix `{s}` must be 1 to 16 characters of a-z and 0-9"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        KeyPrefix("kg".to_owned())
    }
}

/// The 32-byte secret that keys are hashed with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt([u8; 32]);

impl Salt {
    /// Parses exactly 64 hex characters (what `keygate gen-salt` prints).
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let s = s.trim();
        decode_hex32(s).map(Salt).ok_or_else(|| {
            format!(
                "token_salt must be exactly 64 hex characters (32 bytes), got {} characters; \
                 make one with `keygate gen-salt`",
                s.len()
            )
        })
    }

    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)?;
        Ok(Salt(b))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

/// `blake3::keyed_hash(salt, key)`: how a key is known at rest and in the cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(salt: &Salt, key: &str) -> Self {
        KeyHash(*blake3::keyed_hash(&salt.0, key.as_bytes()).as_bytes())
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        decode_hex32(s).map(KeyHash)
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for KeyHash {
    /// Only a short prefix: enough to tell records apart in a debug dump, never enough to
    /// stand in for the hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &hex(&self.0[..4]))
    }
}

impl Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyHash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad key hash"))
    }
}

/// A freshly generated key: the only moment keygate holds a key it will hand out.
/// `Debug` is redacted so it cannot slip into a log line.
pub struct NewKey(String);

impl NewKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewKey(<redacted>)")
    }
}

/// Makes a new key with 256 bits from the operating system's CSPRNG.
pub fn generate(prefix: &KeyPrefix) -> Result<NewKey, getrandom::Error> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random)?;
    Ok(NewKey(assemble(prefix, &random)))
}

/// The key for given random bytes (deterministic; exposed for test vectors).
pub fn assemble(prefix: &KeyPrefix, random: &[u8; 32]) -> String {
    let mut s = String::with_capacity(prefix.0.len() + 1 + BODY_LEN);
    s.push_str(&prefix.0);
    s.push('_');
    s.push_str(&base62_fixed(random, RANDOM_LEN));
    let crc = crc32fast::hash(s.as_bytes());
    s.push_str(&base62_fixed(&crc.to_be_bytes(), CHECKSUM_LEN));
    s
}

/// Why a presented credential was refused before any hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the key is empty")]
    Empty,
    #[error("the key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    #[error("the key contains characters no key has")]
    BadCharacters,
    #[error("the key has keygate's prefix but not its length or alphabet")]
    BadShape,
    #[error("the key's checksum does not match (a typo or a truncated key)")]
    BadChecksum,
    #[error("keys without keygate's prefix are not accepted here")]
    ForeignPrefix,
    #[error("the key does not have the required length")]
    WrongLength,
    #[error("the key does not start with the required prefix")]
    WrongForeignPrefix,
}

/// Everything the pre-check enforces, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub prefix: KeyPrefix,
    /// Accept keys that do not carry `prefix` (imported, key files).
    pub accept_foreign: bool,
    /// Foreign keys must be exactly this long (0: any).
    pub foreign_length: usize,
    /// Foreign keys must start with this (empty: anything).
    pub foreign_prefix: String,
}

impl Policy {
    /// [`precheck`] plus the length and prefix demanded of foreign keys (AKAS's
    /// `--key-length` and `--key-prefix`).
    pub fn check(&self, candidate: &str) -> Result<Shape, Malformed> {
        let shape = precheck(candidate, &self.prefix, self.accept_foreign)?;
        if shape == Shape::Foreign {
            if self.foreign_length != 0 && candidate.len() != self.foreign_length {
                return Err(Malformed::WrongLength);
            }
            if !candidate.starts_with(self.foreign_prefix.as_str()) {
                return Err(Malformed::WrongForeignPrefix);
            }
        }
        Ok(shape)
    }
}

/// What kind of key passed the pre-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Carries our prefix and a valid checksum.
    Ours,
    /// Anything else printable: imported keys, key-file keys.
    Foreign,
}

/// The cheap checks done before hashing: length, alphabet, prefix and checksum.
/// No allocation.
pub fn precheck(
    candidate: &str,
    prefix: &KeyPrefix,
    allow_foreign: bool,
) -> Result<Shape, Malformed> {
    if candidate.is_empty() {
        return Err(Malformed::Empty);
    }
    if candidate.len() > MAX_KEY_LEN {
        return Err(Malformed::TooLong);
    }
    let bytes = candidate.as_bytes();
    let p = prefix.0.as_bytes();
    let ours = bytes.len() > p.len() && bytes.starts_with(p) && bytes[p.len()] == b'_';
    if ours {
        let body = &bytes[p.len() + 1..];
        if body.len() != BODY_LEN || !body.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Malformed::BadShape);
        }
        let split = bytes.len() - CHECKSUM_LEN;
        let crc = crc32fast::hash(&bytes[..split]);
        if !base62_eq(&crc.to_be_bytes(), &bytes[split..]) {
            return Err(Malformed::BadChecksum);
        }
        return Ok(Shape::Ours);
    }
    // Visible ASCII only: a key never holds spaces, controls or non-ASCII bytes.
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Malformed::BadCharacters);
    }
    if !allow_foreign {
        return Err(Malformed::ForeignPrefix);
    }
    Ok(Shape::Foreign)
}

/// `kg_AbCd…wxyz`: enough to recognise a key in a list, far too little to use it.
pub fn hint(key: &str) -> String {
    let (head, body) = match key.split_once('_') {
        Some((p, b)) if !p.is_empty() && b.len() >= 12 => (format!("{p}_"), b),
        _ => (String::new(), key),
    };
    let chars: Vec<char> = body.chars().collect();
    if chars.len() < 12 {
        return format!("{head}…");
    }
    let first: String = chars[..4].iter().collect();
    let last: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{first}…{last}")
}

/// Random URL-safe text of `len` base62 characters (ids, not secrets).
pub fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)?;
        // 248 = 4 × 62: rejecting bytes ≥ 248 keeps every digit equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(*b % 62)]));
        }
    }
    Ok(out)
}

/// Big-endian bytes as exactly `width` base62 digits, most significant first.
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut num = bytes.to_vec();
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        let mut rem: u32 = 0;
        for byte in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        *slot = BASE62[rem as usize];
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// Compares a u32 (as 4 big-endian bytes) with 6 base62 digits without allocating.
fn base62_eq(be: &[u8; 4], digits: &[u8]) -> bool {
    let mut n = u64::from(u32::from_be_bytes(*be));
    for d in digits.iter().rev() {
        if BASE62[(n % 62) as usize] != *d {
            return false;
        }
        n /= 62;
    }
    n == 0
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kg() -> KeyPrefix {
        KeyPrefix::default()
    }

    /// Random bytes 0x00..0x1f, the fixed input of the vectors below.
    fn counting() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    // Vectors computed outside Rust, with Python 3:
    //   n = int.from_bytes(bytes(range(32)), 'big'); base62 of n, 43 digits;
    //   zlib.crc32(b'kg_' + body43) -> 6 base62 digits;
    //   blake3.blake3(key, key=bytes.fromhex(SALT)).hexdigest()  (PyPI `blake3`)
    const VECTOR_KEY: &str = "kg_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf4DqIjo";
    const VECTOR_SALT: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const VECTOR_HASH: &str = "31d920de2995deb0fe699ef28ecc898b8335dfb4be0f1e199d9382556b77d74e";

    #[test]
    fn known_key_vector() {
        assert_eq!(assemble(&kg(), &counting()), VECTOR_KEY);
        assert_eq!(precheck(VECTOR_KEY, &kg(), false), Ok(Shape::Ours));
    }

    #[test]
    fn known_keyed_hash_vector() {
        let salt = Salt::from_hex(VECTOR_SALT).unwrap();
        assert_eq!(KeyHash::of(&salt, VECTOR_KEY).to_hex(), VECTOR_HASH);
    }

    #[test]
    fn generated_keys_pass_their_own_checks() {
        let re_len = "kg_".len() + BODY_LEN;
        for _ in 0..200 {
            let k = generate(&kg()).unwrap();
            assert_eq!(k.expose().len(), re_len);
            assert!(k.expose()[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(precheck(k.expose(), &kg(), false), Ok(Shape::Ours));
        }
        let a = generate(&kg()).unwrap();
        let b = generate(&kg()).unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn any_single_character_change_breaks_the_checksum() {
        let key = VECTOR_KEY.as_bytes();
        for i in 3..key.len() {
            let mut k = key.to_vec();
            k[i] = if k[i] == b'a' { b'b' } else { b'a' };
            let s = String::from_utf8(k).unwrap();
            assert_eq!(
                precheck(&s, &kg(), true),
                Err(Malformed::BadChecksum),
                "{s}"
            );
        }
    }

    #[test]
    fn precheck_rejects_garbage() {
        let p = kg();
        assert_eq!(precheck("", &p, true), Err(Malformed::Empty));
        assert_eq!(
            precheck(&"a".repeat(513), &p, true),
            Err(Malformed::TooLong)
        );
        assert_eq!(precheck("kg_short", &p, true), Err(Malformed::BadShape));
        assert_eq!(
            precheck(&VECTOR_KEY[..VECTOR_KEY.len() - 1], &p, true),
            Err(Malformed::BadShape)
        );
        let with_dash = VECTOR_KEY.replacen('0', "-", 1);
        assert_eq!(precheck(&with_dash, &p, true), Err(Malformed::BadShape));
        assert_eq!(
            precheck("has space", &p, true),
            Err(Malformed::BadCharacters)
        );
        assert_eq!(precheck("clé", &p, true), Err(Malformed::BadCharacters));
        assert_eq!(precheck("legacy-key-123", &p, true), Ok(Shape::Foreign));
        assert!(matches!(
            precheck("legacy-key-123", &p, false),
            Err(Malformed::ForeignPrefix)
        ));
        // Another prefix is a foreign key, not one of ours.
        let other = VECTOR_KEY.replacen("kg_", "xx_", 1);
        assert_eq!(precheck(&other, &p, true), Ok(Shape::Foreign));
        let custom = KeyPrefix::parse("acme").unwrap();
        assert_eq!(precheck(VECTOR_KEY, &custom, true), Ok(Shape::Foreign));
    }

    #[test]
    fn policy_adds_foreign_length_and_prefix() {
        let p = Policy {
            prefix: kg(),
            accept_foreign: true,
            foreign_length: 10,
            foreign_prefix: "ak-".into(),
        };
        assert_eq!(p.check("ak-1234567"), Ok(Shape::Foreign));
        assert_eq!(p.check("ak-123"), Err(Malformed::WrongLength));
        assert_eq!(p.check("zz-1234567"), Err(Malformed::WrongForeignPrefix));
        // Our own keys are judged by their checksum, not by the foreign rules.
        assert_eq!(p.check(VECTOR_KEY), Ok(Shape::Ours));
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(KeyPrefix::parse("acme2").is_ok());
        for bad in ["", "Acme", "a_b", "toolongprefix1234", "é"] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn salt_parsing_and_redaction() {
        let s = Salt::from_hex(VECTOR_SALT).unwrap();
        assert_eq!(s.to_hex(), VECTOR_SALT);
        assert_eq!(Salt::from_hex(&VECTOR_SALT.to_uppercase()).unwrap(), s);
        assert_eq!(format!("{s:?}"), "Salt(<redacted>)");
        assert!(
            Salt::from_hex("abc")
                .unwrap_err()
                .contains("keygate gen-salt")
        );
        assert!(Salt::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(Salt::generate().unwrap().to_hex().len(), 64);
    }

    #[test]
    fn hints_show_only_the_ends() {
        assert_eq!(hint(VECTOR_KEY), "kg_003a…qIjo");
        assert_eq!(hint("legacy-key-123456"), "lega…3456");
        assert_eq!(hint("short"), "…");
    }

    #[test]
    fn random_ids_are_base62() {
        let id = random_base62(16).unwrap();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
