//! Names: package names, aliases, and index names `<identity-id>:<name>`.
//!
//! Goals: one parser per kind of name, so a bad name cannot enter by any door; a case-folded
//! form for the rule that two names differing only in case are refused within one identity (and
//! two aliases within one package index).
//!
//! Normative text: `spec/05-identities.md`, "Names".

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::identity::{IdentityId, IdentityIdError};

/// The longest name or alias.
pub const MAX_NAME_LEN: usize = 128;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty.
    #[error("name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("name is {0} characters long; the limit is {MAX_NAME_LEN}")]
    TooLong(usize),
    /// A name starting with `-`.
    #[error("name `{0}` starts with `-`; names start with a letter, digit or `_`")]
    LeadingDash(String),
    /// A character outside `[a-zA-Z0-9_-]`.
    #[error("name `{name}` contains {ch:?}; names use ASCII letters, digits, `_` and `-`")]
    InvalidChar {
        /// The name.
        name: String,
        /// The character.
        ch: char,
    },
    /// An index name without the `:` between identity and name.
    #[error("`{0}` is not an index name; write `<identity-id>:<name>`")]
    MissingColon(String),
    /// The identity part of an index name is invalid.
    #[error("invalid identity in index name: {0}")]
    Identity(IdentityIdError),
}

impl NameError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Empty => "name-empty",
            NameError::TooLong(_) => "name-too-long",
            NameError::LeadingDash(_) => "name-leading-dash",
            NameError::InvalidChar { .. } => "name-invalid-char",
            NameError::MissingColon(_) => "name-missing-colon",
            NameError::Identity(e) => e.code(),
        }
    }
}

fn check_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(s.chars().count()));
    }
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(NameError::InvalidChar {
            name: s.to_owned(),
            ch,
        });
    }
    if s.starts_with('-') {
        return Err(NameError::LeadingDash(s.to_owned()));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(String);

        impl $t {
            /// The name as written.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The case-folded form (ASCII lower case) under which two names conflict.
            #[must_use]
            pub fn folded(&self) -> String {
                self.0.to_ascii_lowercase()
            }

            /// Whether `self` and `other` differ only in case (and so may not coexist).
            #[must_use]
            pub fn case_conflict(&self, other: &$t) -> bool {
                self.0 != other.0 && self.0.eq_ignore_ascii_case(&other.0)
            }
        }

        impl FromStr for $t {
            type Err = NameError;

            fn from_str(s: &str) -> Result<$t, NameError> {
                check_name(s)?;
                Ok($t(s.to_owned()))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.0)
            }
        }

        serde_via_str!($t);
    };
}

name_type!(
    /// A package or index name: `[a-zA-Z0-9_][a-zA-Z0-9_-]*`, at most 128 characters.
    Name
);
name_type!(
    /// A short name a package index gives to a version index; dependencies name aliases.
    /// Same grammar as [`Name`].
    Alias
);

/// `<identity-id>:<name>`: an index owned by an identity.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexName {
    identity: IdentityId,
    name: Name,
}

impl IndexName {
    /// Builds an index name.
    #[must_use]
    pub fn new(identity: IdentityId, name: Name) -> IndexName {
        IndexName { identity, name }
    }

    /// The owning identity.
    #[must_use]
    pub fn identity(&self) -> &IdentityId {
        &self.identity
    }

    /// The name within the identity.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.name
    }
}

impl FromStr for IndexName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<IndexName, NameError> {
        let (id, name) = s
            .split_once(':')
            .ok_or_else(|| NameError::MissingColon(s.to_owned()))?;
        Ok(IndexName {
            identity: id.parse()?,
            name: name.parse()?,
        })
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.identity, self.name)
    }
}

impl fmt::Debug for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexName({self})")
    }
}

serde_via_str!(IndexName);

// A plain `From` rather than `#[from]`: the message already carries the cause, and marking it
// as the source as well would print it twice in error chains.
impl From<IdentityIdError> for NameError {
    fn from(e: IdentityIdError) -> NameError {
        NameError::Identity(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_grammar() {
        for ok in ["a", "_", "0", "lib-foo_2", "A-", &"x".repeat(128)] {
            assert!(ok.parse::<Name>().is_ok(), "{ok}");
        }
        let cases: [(&str, &str); 6] = [
            ("", "name-empty"),
            ("-a", "name-leading-dash"),
            ("a.b", "name-invalid-char"),
            ("a b", "name-invalid-char"),
            ("é", "name-invalid-char"),
            ("a:b", "name-invalid-char"),
        ];
        for (bad, code) in cases {
            assert_eq!(
                bad.parse::<Name>().map_err(|e| e.code()),
                Err(code),
                "{bad:?}"
            );
        }
        assert_eq!(
            "x".repeat(129).parse::<Name>().map_err(|e| e.code()),
            Err("name-too-long")
        );
    }

    #[test]
    fn case_conflicts() {
        let a: Name = "LibFoo".parse().expect("name");
        let b: Name = "libfoo".parse().expect("name");
        assert!(a.case_conflict(&b));
        assert!(!a.case_conflict(&a));
        assert_eq!(a.folded(), b.folded());
    }

    #[test]
    fn index_names_round_trip() {
        let id = IdentityId::from_digest([9; 32]);
        let n = IndexName::new(id, "libfoo".parse().expect("name"));
        let text = n.to_string();
        assert_eq!(text.parse::<IndexName>(), Ok(n));
        assert_eq!(
            "libfoo".parse::<IndexName>().map_err(|e| e.code()),
            Err("name-missing-colon")
        );
        assert!(format!("{id}:a:b").parse::<IndexName>().is_err());
    }
}
