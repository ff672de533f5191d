//! `cairn-protocol`: the exact bytes and rules of the Cairn protocol, with no I/O.
//!
//! A guide to the modules, in the order the layers build on each other:
//! - [`codec`]: strict DAG-CBOR, exactly as IPLD defines it.
//! - [`profile`]: Cairn's record profile on top (no floats, CIDv1 links only, no unknown fields,
//!   1 MiB blocks, bounded depth).
//! - [`cid`]: Cairn content IDs (CIDv1, BLAKE3-256, dag-cbor or raw).
//! - [`sign`] and [`signed`]: Ed25519 with domain-separated input and strict verification, and
//!   the envelope `Signed<T, Unverified>` → `Signed<T, Verified>`.
//! - [`version`]: versions and constraints.
//! - [`identity`], [`name`]: self-certifying identities with root and signing keys; names.
//! - [`index`]: version indexes and package indexes as signed append-only logs ([`chain`] holds
//!   the shared rules), with state in canonical chunked maps ([`hamt`]).
//! - [`release`]: the release record. [`head`]: announcement heads, fork evidence, conflicts.
//! - [`wire`]: what one node asks another for on the peer network.
//!
//! The normative text is `spec/` at the repository root; `test-vectors/` holds the
//! language-neutral vectors that this crate is checked against.
//!
//! ```
//! use cairn_protocol::signed::{Opaque, Signed, domains};
//! use cairn_protocol::codec::{Map, Value};
//! use cairn_protocol::sign::SecretKey;
//! use cairn_protocol::version::{Constraint, Version};
//!
//! let key = SecretKey::from_seed(&[7; 32]);
//! let mut m = Map::new();
//! m.insert("seq", Value::Integer(1));
//! let signed = Signed::sign(Opaque::<domains::Head>::new(Value::Map(m)), &[&key])?;
//! let bytes = signed.encode();
//! let back = Signed::<Opaque<domains::Head>>::decode(&bytes)?.verify()?;
//! assert_eq!(back.payload_cid(), signed.payload_cid());
//!
//! let c: Constraint = "^1.2".parse()?;
//! assert!(c.matches(&"1.9.0".parse::<Version>()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Implements serde for a type through its `Display` and `FromStr`, so that text from any door
/// goes through the one parser.
macro_rules! serde_via_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod chain;
pub mod cid;
pub mod codec;
#[doc(hidden)]
pub mod fuzzing;
pub mod hamt;
pub mod head;
pub mod identity;
pub mod index;
pub mod multiformats;
pub mod name;
pub mod profile;
pub mod release;
pub mod sign;
pub mod signed;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod version;
pub mod wire;
