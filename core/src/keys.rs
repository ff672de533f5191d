//! Encrypted key files: an identity's secret keys sealed with a passphrase.
//!
//! Goals: secret keys never touch disk in the clear, never appear in output or logs (the
//! `SecretKey` type does not print them), and move between machines as one sealed file. The
//! key is derived with Argon2id (memory-hard), the keys are sealed with XChaCha20-Poly1305,
//! and every header field is authenticated, so a file whose parameters were altered does not
//! open.
//!
//! Normative text: `spec/09-key-files.md`.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use cairn_protocol::codec::{self, Map, Value};
use cairn_protocol::identity::IdentityId;
use cairn_protocol::profile::{self, Fields, RecordError};
use cairn_protocol::sign::{PublicKey, SecretKey};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use thiserror::Error;

/// The format tag of version 1.
pub const FORMAT: &str = "cairn-key/1";

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Signs identity changes; may be kept offline.
    Root,
    /// Signs index revisions and heads.
    Signing,
}

impl Role {
    /// The name in the file.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Signing => "signing",
        }
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The default for new files: 64 MiB, 3 passes, 1 lane (OWASP's Argon2id guidance).
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The most memory a key file may ask for (256 MiB: four times the default).
    pub const MAX_M_KIB: u32 = 256 * 1024;
    /// The most passes a key file may ask for.
    pub const MAX_T: u32 = 16;
    /// The most lanes a key file may ask for.
    pub const MAX_P: u32 = 8;
    /// The most work (memory in KiB × passes) a key file may ask for: 256 MiB × 4 passes, a
    /// few seconds on a slow machine.
    pub const MAX_WORK: u64 = 256 * 1024 * 4;

    /// Refuses parameters beyond the caps, before any memory is spent on them: they are read
    /// from the file, which is not authenticated until after the derivation.
    pub fn check_caps(self) -> Result<KdfParams, KeyError> {
        let over = |param: &'static str, value: u64, max: u64| {
            Err(KeyError::KdfLimit { param, value, max })
        };
        if self.m_kib > Self::MAX_M_KIB {
            return over("m_kib", self.m_kib.into(), Self::MAX_M_KIB.into());
        }
        if self.t > Self::MAX_T {
            return over("t", self.t.into(), Self::MAX_T.into());
        }
        if self.p > Self::MAX_P {
            return over("p", self.p.into(), Self::MAX_P.into());
        }
        let work = u64::from(self.m_kib) * u64::from(self.t);
        if work > Self::MAX_WORK {
            return over("m_kib × t", work, Self::MAX_WORK);
        }
        Ok(self)
    }

    /// The smallest cost Argon2 allows; for tests and vectors only, never for real keys.
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

/// An identity's secret keys, as sealed in a key file.
#[derive(Debug)]
pub struct KeyRing {
    /// The identity.
    pub identity: IdentityId,
    /// Keys with their roles, sorted by role then public key.
    pub keys: Vec<(Role, SecretKey)>,
}

impl KeyRing {
    /// The keys of one role.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &SecretKey> {
        self.keys
            .iter()
            .filter(move |(r, _)| *r == role)
            .map(|(_, k)| k)
    }

    /// The secret key for a public key, if held.
    #[must_use]
    pub fn secret_for(&self, public: &PublicKey) -> Option<&SecretKey> {
        self.keys
            .iter()
            .map(|(_, k)| k)
            .find(|k| k.public() == *public)
    }

    fn sorted(mut self) -> KeyRing {
        self.keys
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.public().cmp(&b.1.public())));
        self
    }
}

/// Why a key file could not be made or opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file is not a key file of a known format.
    #[error("not a Cairn key file: {0}")]
    Format(RecordError),
    /// A format tag this build does not know.
    #[error(
        "key file format `{0}` is not supported (this cairn reads `{FORMAT}`)\n\nhint: upgrade cairn"
    )]
    UnknownFormat(String),
    /// The passphrase is wrong, or the file was altered.
    #[error("wrong passphrase, or the key file was altered")]
    Decrypt,
    /// KDF parameters Argon2 refuses.
    #[error("invalid key derivation parameters: {0}")]
    Kdf(String),
    /// KDF parameters beyond what this tool spends on opening a file.
    #[error(
        "the key file asks for key derivation with {param} = {value}, above the limit of {max}; it was not opened\n\nhint: a file made by cairn never does this; if you made it with other tools, re-seal it with `cairn id export` from a home that opens it"
    )]
    KdfLimit {
        /// The parameter (`m_kib`, `t`, `p`, or `m_kib × t`).
        param: &'static str,
        /// Its value in the file.
        value: u64,
        /// The cap.
        max: u64,
    },
    /// The system random generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A filesystem error.
    #[error("cannot write `{path}`: {cause}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

impl KeyError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Format(e) => e.code(),
            KeyError::UnknownFormat(_) => "key-unknown-format",
            KeyError::Decrypt => "key-decrypt",
            KeyError::Kdf(_) => "key-kdf",
            KeyError::KdfLimit { .. } => "key-kdf-limit",
            KeyError::Random(_) => "key-random",
            KeyError::Io { .. } => "key-io",
        }
    }
}

/// Fills `buf` from the operating system's random generator.
pub fn random(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf).map_err(|e| KeyError::Random(e.to_string()))
}

/// A new secret key from the operating system's random generator.
pub fn generate() -> Result<SecretKey, KeyError> {
    let mut seed = [0u8; 32];
    random(&mut seed)?;
    Ok(SecretKey::from_seed(&seed))
}

fn derive(passphrase: &[u8], salt: &[u8], p: KdfParams) -> Result<[u8; 32], KeyError> {
    let params =
        Params::new(p.m_kib, p.t, p.p, Some(32)).map_err(|e| KeyError::Kdf(e.to_string()))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key)
        .map_err(|e| KeyError::Kdf(e.to_string()))?;
    Ok(key)
}

/// The authenticated header: `{format, kdf, cipher}`.
fn header(p: KdfParams, salt: &[u8], nonce: &[u8]) -> Map {
    let mut kdf = Map::new();
    kdf.insert("alg", Value::text("argon2id"));
    kdf.insert("m_kib", Value::Integer(i128::from(p.m_kib)));
    kdf.insert("t", Value::Integer(i128::from(p.t)));
    kdf.insert("p", Value::Integer(i128::from(p.p)));
    kdf.insert("salt", Value::Bytes(salt.to_vec()));
    let mut cipher = Map::new();
    cipher.insert("alg", Value::text("xchacha20poly1305"));
    cipher.insert("nonce", Value::Bytes(nonce.to_vec()));
    let mut m = Map::new();
    m.insert("format", Value::text(FORMAT));
    m.insert("kdf", Value::Map(kdf));
    m.insert("cipher", Value::Map(cipher));
    m
}

fn plaintext(ring: &KeyRing) -> Vec<u8> {
    let keys = ring
        .keys
        .iter()
        .map(|(role, k)| {
            let mut m = Map::new();
            m.insert("role", Value::text(role.name()));
            m.insert("seed", Value::Bytes(k.to_seed().to_vec()));
            Value::Map(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("identity", Value::text(ring.identity.to_string()));
    m.insert("keys", Value::List(keys));
    codec::encode(&Value::Map(m))
}

/// Seals `ring` with `passphrase`, using the given salt and nonce (tests and vectors) .
pub fn seal_with(
    ring: KeyRing,
    passphrase: &[u8],
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 24],
) -> Result<Vec<u8>, KeyError> {
    let ring = ring.sorted();
    let key = derive(passphrase, &salt, params)?;
    let head = header(params, &salt, &nonce);
    let aad = codec::encode(&Value::Map(head.clone()));
    let sealed = XChaCha20Poly1305::new(&key.into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plaintext(&ring),
                aad: &aad,
            },
        )
        .map_err(|_| KeyError::Decrypt)?;
    let mut file = head;
    file.insert("sealed", Value::Bytes(sealed));
    Ok(profile::encode_record(&Value::Map(file))?)
}

/// Seals `ring` with `passphrase`, with a fresh random salt and nonce.
pub fn seal(ring: KeyRing, passphrase: &[u8], params: KdfParams) -> Result<Vec<u8>, KeyError> {
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; 24]);
    random(&mut salt)?;
    random(&mut nonce)?;
    seal_with(ring, passphrase, params, salt, nonce)
}

/// Opens a key file.
pub fn open(file: &[u8], passphrase: &[u8]) -> Result<KeyRing, KeyError> {
    let value = profile::decode_record(file)?;
    let mut f = Fields::new("key file", value)?;
    let format = f.text("format")?;
    if format != FORMAT {
        return Err(KeyError::UnknownFormat(format));
    }
    let mut kdf = Fields::new("key file kdf", f.required("kdf")?)?;
    if kdf.text("alg")? != "argon2id" {
        return Err(KeyError::Format(kdf.invalid("alg", "must be `argon2id`")));
    }
    let num = |k: &mut Fields, name: &'static str| -> Result<u32, RecordError> {
        let n = k.uint(name)?;
        u32::try_from(n).map_err(|_| k.invalid(name, "must fit in 32 bits"))
    };
    let params = KdfParams {
        m_kib: num(&mut kdf, "m_kib")?,
        t: num(&mut kdf, "t")?,
        p: num(&mut kdf, "p")?,
    };
    let salt = kdf.bytes_exact::<16>("salt")?;
    kdf.finish()?;
    let mut cipher = Fields::new("key file cipher", f.required("cipher")?)?;
    if cipher.text("alg")? != "xchacha20poly1305" {
        return Err(KeyError::Format(
            cipher.invalid("alg", "must be `xchacha20poly1305`"),
        ));
    }
    let nonce = cipher.bytes_exact::<24>("nonce")?;
    cipher.finish()?;
    let sealed = match f.required("sealed")? {
        Value::Bytes(b) => b,
        other => return Err(KeyError::Format(f.wrong_type("sealed", "bytes", &other))),
    };
    f.finish()?;
    let key = derive(passphrase, &salt, params.check_caps()?)?;
    let aad = codec::encode(&Value::Map(header(params, &salt, &nonce)));
    let plain = XChaCha20Poly1305::new(&key.into())
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &sealed,
                aad: &aad,
            },
        )
        .map_err(|_| KeyError::Decrypt)?;
    let mut p = Fields::new("key file contents", profile::decode_record(&plain)?)?;
    let identity_text = p.text("identity")?;
    let identity =
        identity_text
            .parse()
            .map_err(|e: cairn_protocol::identity::IdentityIdError| {
                p.invalid("identity", e.to_string())
            })?;
    let mut keys = Vec::new();
    for k in p.list("keys")? {
        let mut kf = Fields::new("key", k)?;
        let role = match kf.text("role")?.as_str() {
            "root" => Role::Root,
            "signing" => Role::Signing,
            other => {
                return Err(KeyError::Format(
                    kf.invalid("role", format!("unknown role `{other}`")),
                ));
            }
        };
        let seed = kf.bytes_exact::<32>("seed")?;
        kf.finish()?;
        keys.push((role, SecretKey::from_seed(&seed)));
    }
    p.finish()?;
    Ok(KeyRing { identity, keys }.sorted())
}

/// Writes `bytes` to `path` readable by the owner only (mode 0600 on Unix), atomically, so a
/// crash never leaves half a key file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    crate::atomic::write(
        path,
        bytes,
        crate::atomic::Access::Private,
        "keys:after-temp-write",
    )
    .map_err(|cause| KeyError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

// Plain `From`: the message carries the cause (a `#[from]` source would print it twice).
impl From<RecordError> for KeyError {
    fn from(e: RecordError) -> KeyError {
        KeyError::Format(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing {
            identity: IdentityId::from_digest([7; 32]),
            keys: vec![
                (Role::Signing, SecretKey::from_seed(&[2; 32])),
                (Role::Root, SecretKey::from_seed(&[1; 32])),
            ],
        }
    }

    #[test]
    fn seal_and_open_round_trip() {
        let file = seal(ring(), b"correct horse", KdfParams::INSECURE_FOR_TESTS).expect("seal");
        let back = open(&file, b"correct horse").expect("open");
        assert_eq!(back.identity, IdentityId::from_digest([7; 32]));
        assert_eq!(back.keys[0].0, Role::Root, "sorted by role");
        assert_eq!(
            back.with_role(Role::Signing).next().map(SecretKey::public),
            Some(SecretKey::from_seed(&[2; 32]).public())
        );
        assert!(matches!(open(&file, b"wrong"), Err(KeyError::Decrypt)));
        let text = String::from_utf8_lossy(&file);
        assert!(
            !text.contains(&hex::encode([1u8; 32])),
            "no seed in the clear"
        );
    }

    #[test]
    fn altered_headers_do_not_open() {
        let file = seal_with(
            ring(),
            b"pw",
            KdfParams::INSECURE_FOR_TESTS,
            [3; 16],
            [4; 24],
        )
        .expect("seal");
        let mut v = profile::decode_record(&file).expect("record");
        if let Value::Map(m) = &mut v
            && let Some(Value::Map(k)) = m.get("kdf").cloned()
        {
            let mut k = k;
            k.insert("t", Value::Integer(2));
            m.insert("kdf", Value::Map(k));
        }
        assert!(matches!(
            open(&codec::encode(&v), b"pw"),
            Err(KeyError::Decrypt)
        ));
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(open(&flipped, b"pw"), Err(KeyError::Decrypt)));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("dir");
        let path = tmp.path().join("id.key");
        write_private(&path, b"sealed").expect("write");
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
}
