//! Versions: one or more numeric fields, an optional pre-release, no build metadata.
//!
//! Goals: semver's order, with any number of numeric fields and trailing zeros ignored for
//! equality, order and hashing (`1.2` = `1.2.0.0`) but kept for printing. Exactly one parser, used
//! by `FromStr` and serde alike.
//!
//! Non-goals: foreign syntaxes (importers translate them).
//!
//! Normative text: `spec/04-versions.md`.

mod constraint;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use thiserror::Error;

pub use constraint::{Constraint, ConstraintError, MAX_CONSTRAINT_LEN};

/// The longest version text.
pub const MAX_VERSION_LEN: usize = 128;

/// A parsed version.
#[derive(Clone)]
pub struct Version {
    /// Numeric fields with trailing zeros removed (may be empty: the version `0`).
    nums: Vec<u64>,
    /// How many numeric fields were written, for printing.
    written: usize,
    /// Pre-release identifiers; empty for a release.
    pre: Vec<Ident>,
}

/// One pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Ident {
    Numeric(u64),
    Alpha(String),
}

impl Ord for Ident {
    fn cmp(&self, other: &Ident) -> Ordering {
        match (self, other) {
            (Ident::Numeric(a), Ident::Numeric(b)) => a.cmp(b),
            (Ident::Numeric(_), Ident::Alpha(_)) => Ordering::Less,
            (Ident::Alpha(_), Ident::Numeric(_)) => Ordering::Greater,
            (Ident::Alpha(a), Ident::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Ident) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a version text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Empty text.
    #[error("empty version")]
    Empty,
    /// More than [`MAX_VERSION_LEN`] characters.
    #[error("version is {0} characters long; the limit is {MAX_VERSION_LEN}")]
    TooLong(usize),
    /// `+build` metadata.
    #[error("build metadata (`+…`) is not allowed in versions; remove it")]
    BuildMetadata,
    /// An empty numeric field or pre-release identifier (`1..2`, `1.`, `1-`, `1-a..b`).
    #[error("empty field in `{0}`")]
    EmptyField(String),
    /// A numeric field or numeric pre-release identifier with a leading zero.
    #[error("`{0}` has a leading zero")]
    LeadingZero(String),
    /// A numeric field that does not fit in 64 bits.
    #[error("`{0}` does not fit in 64 bits")]
    NumberTooLarge(String),
    /// A numeric field that is not a number.
    #[error("`{0}` is not a number (numeric fields are digits only)")]
    NotNumeric(String),
    /// A character not allowed in a pre-release identifier.
    #[error("invalid character {0:?} (pre-release identifiers are ASCII letters, digits and `-`)")]
    InvalidChar(char),
}

impl VersionError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            VersionError::Empty => "version-empty",
            VersionError::TooLong(_) => "version-too-long",
            VersionError::BuildMetadata => "version-build-metadata",
            VersionError::EmptyField(_) => "version-empty-field",
            VersionError::LeadingZero(_) => "version-leading-zero",
            VersionError::NumberTooLarge(_) => "version-number-too-large",
            VersionError::NotNumeric(_) => "version-not-numeric",
            VersionError::InvalidChar(_) => "version-invalid-char",
        }
    }
}

fn parse_number(field: &str) -> Result<u64, VersionError> {
    if field.is_empty() {
        return Err(VersionError::EmptyField(field.to_owned()));
    }
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionError::NotNumeric(field.to_owned()));
    }
    if field.len() > 1 && field.starts_with('0') {
        return Err(VersionError::LeadingZero(field.to_owned()));
    }
    field
        .parse::<u64>()
        .map_err(|_| VersionError::NumberTooLarge(field.to_owned()))
}

/// The decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

impl Version {
    /// The length of the text form ([`fmt::Display`]) in bytes.
    pub(crate) fn text_len(&self) -> usize {
        let nums: usize = (0..self.written).map(|i| digits(self.field(i)) + 1).sum();
        let pre: usize = self
            .pre
            .iter()
            .map(|ident| {
                1 + match ident {
                    Ident::Numeric(n) => digits(*n),
                    Ident::Alpha(a) => a.len(),
                }
            })
            .sum();
        nums.saturating_sub(1) + pre
    }

    /// Appends the text form ([`fmt::Display`]) as UTF-8, without the formatting machinery
    /// (state encoding writes one per release entry it changes).
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        for i in 0..self.written {
            if i > 0 {
                out.push(b'.');
            }
            push_decimal(out, self.field(i));
        }
        for (i, ident) in self.pre.iter().enumerate() {
            out.push(if i == 0 { b'-' } else { b'.' });
            match ident {
                Ident::Numeric(n) => push_decimal(out, *n),
                Ident::Alpha(a) => out.extend_from_slice(a.as_bytes()),
            }
        }
    }

    /// The numeric fields without trailing zeros (the "base" the constraint rules compare).
    #[must_use]
    pub fn base(&self) -> &[u64] {
        &self.nums
    }

    /// Numeric field `i` (0 past the written fields).
    #[must_use]
    pub fn field(&self, i: usize) -> u64 {
        self.nums.get(i).copied().unwrap_or(0)
    }

    /// The text of this version's equality class: the numeric fields without trailing zeros
    /// (`0` when none remain), then the pre-release as written. Two versions are equal exactly
    /// when their keys are equal (`1.2.0-rc.1` and `1.2-rc.1` both give `1.2-rc.1`).
    #[must_use]
    pub fn key(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(8 * self.nums.len().max(1));
        if self.nums.is_empty() {
            s.push('0');
        }
        for (i, n) in self.nums.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            let _ = write!(s, "{n}");
        }
        for (i, ident) in self.pre.iter().enumerate() {
            s.push(if i == 0 { '-' } else { '.' });
            match ident {
                Ident::Numeric(n) => {
                    let _ = write!(s, "{n}");
                }
                Ident::Alpha(a) => s.push_str(a),
            }
        }
        s
    }

    /// The lowest version whose numeric fields are `base` (trailing zeros ignored): `base-0`
    /// (numeric `0` is the lowest pre-release identifier, and a shorter pre-release sorts
    /// first). Resolvers use it as the exclusive bound that leaves out a base and all of its
    /// pre-releases. Built directly, so its text may exceed the length limit by the `-0`.
    #[must_use]
    pub fn lowest_with_base(base: &[u64]) -> Version {
        let mut nums = base.to_vec();
        let written = nums.len().max(1);
        while nums.last() == Some(&0) {
            nums.pop();
        }
        Version {
            nums,
            written,
            pre: vec![Ident::Numeric(0)],
        }
    }

    /// Whether this is a pre-release.
    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Whether both have the same numeric fields (trailing zeros ignored).
    #[must_use]
    pub fn same_base(&self, other: &Version) -> bool {
        self.nums == other.nums
    }

    /// The order used to choose among matching versions: `Greater` means preferred. Any release
    /// beats any pre-release; otherwise the higher version wins.
    #[must_use]
    pub fn priority_cmp(&self, other: &Version) -> Ordering {
        other
            .is_prerelease()
            .cmp(&self.is_prerelease())
            .then_with(|| self.cmp(other))
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Version, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        if s.len() > MAX_VERSION_LEN {
            return Err(VersionError::TooLong(s.chars().count()));
        }
        if s.contains('+') {
            return Err(VersionError::BuildMetadata);
        }
        let (num_part, pre_part) = match s.split_once('-') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let mut nums = Vec::with_capacity(4);
        for field in num_part.split('.') {
            if field.is_empty() {
                return Err(VersionError::EmptyField(s.to_owned()));
            }
            nums.push(parse_number(field)?);
        }
        let written = nums.len();
        while nums.last() == Some(&0) {
            nums.pop();
        }
        let mut pre = Vec::new();
        if let Some(p) = pre_part {
            for ident in p.split('.') {
                if ident.is_empty() {
                    return Err(VersionError::EmptyField(s.to_owned()));
                }
                if let Some(c) = ident
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
                {
                    return Err(VersionError::InvalidChar(c));
                }
                if ident.bytes().all(|b| b.is_ascii_digit()) {
                    pre.push(Ident::Numeric(parse_number(ident)?));
                } else {
                    pre.push(Ident::Alpha(ident.to_owned()));
                }
            }
        }
        Ok(Version { nums, written, pre })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..self.written {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{}", self.field(i))?;
        }
        for (i, ident) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match ident {
                Ident::Numeric(n) => write!(f, "{n}")?,
                Ident::Alpha(a) => f.write_str(a)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.nums == other.nums && self.pre == other.pre
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nums.hash(state);
        self.pre.hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        // Trailing zeros are stripped, so comparing field by field with implicit zeros is
        // exactly comparing the stripped vectors lexicographically.
        self.nums
            .cmp(&other.nums)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

serde_via_str!(Version);

#[cfg(test)]
mod tests;
