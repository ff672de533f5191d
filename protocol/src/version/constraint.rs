//! Constraints: Cairn's whole native grammar is `*`, an exact version, `>=v`, `<v`, `>=v1 <v2` and
//! `^v`. Spaces after an operator are optional; printing is canonical (no space after an
//! operator, one space between two bounds).
//!
//! `matches` is pure set membership: a pre-release inside the range matches. Preferring releases
//! is the resolver's job.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::{Version, VersionError};

/// The longest constraint text.
pub const MAX_CONSTRAINT_LEN: usize = 2 * super::MAX_VERSION_LEN + 8;

/// A set of versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Constraint {
    /// `*`: every version.
    Any,
    /// `v`: exactly this version (trailing zeros ignored).
    Exact(Version),
    /// `>=v`.
    AtLeast(Version),
    /// `<v`.
    Below(Version),
    /// `>=v1 <v2`, with `v2 > v1`.
    Range(Version, Version),
    /// `^v`: at or above `v`, with the same fields up to and including `v`'s first non-zero one.
    Caret(Version),
}

/// Why a constraint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConstraintError {
    /// Empty text.
    #[error("empty constraint (use `*` for any version)")]
    Empty,
    /// Longer than [`MAX_CONSTRAINT_LEN`].
    #[error("constraint is {0} characters long; the limit is {MAX_CONSTRAINT_LEN}")]
    TooLong(usize),
    /// Leading or trailing whitespace, or whitespace where the grammar has none.
    #[error(
        "unexpected whitespace in `{0}` (spaces are allowed only after an operator and between two bounds)"
    )]
    Whitespace(String),
    /// A foreign operator (`~`, `>`, `<=`, `=`, `,`, `||`).
    #[error("`{op}` is not part of Cairn's constraint grammar; {hint}")]
    ForeignOperator {
        /// The operator found.
        op: &'static str,
        /// What to write instead.
        hint: &'static str,
    },
    /// A version inside the constraint is invalid.
    #[error("invalid version `{text}` in constraint: {error}")]
    Version {
        /// The version text.
        text: String,
        /// Why.
        error: VersionError,
    },
    /// `^` on a version with no non-zero numeric field.
    #[error("`^{0}` has no non-zero field to hold; write an exact version or a `>=` `<` range")]
    CaretZero(String),
    /// `>=a <b` with `b <= a`.
    #[error("`>={lower} <{upper}` is empty: the upper bound must be above the lower bound")]
    EmptyRange {
        /// The lower bound.
        lower: String,
        /// The upper bound.
        upper: String,
    },
    /// Anything else the grammar does not allow.
    #[error("`{0}` is not a constraint (expected `*`, `1.2`, `>=1.2`, `<2`, `>=1.2 <2` or `^1.2`)")]
    Syntax(String),
}

impl ConstraintError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ConstraintError::Empty => "constraint-empty",
            ConstraintError::TooLong(_) => "constraint-too-long",
            ConstraintError::Whitespace(_) => "constraint-whitespace",
            ConstraintError::ForeignOperator { .. } => "constraint-foreign-operator",
            ConstraintError::Version { .. } => "constraint-invalid-version",
            ConstraintError::CaretZero(_) => "constraint-caret-zero",
            ConstraintError::EmptyRange { .. } => "constraint-empty-range",
            ConstraintError::Syntax(_) => "constraint-syntax",
        }
    }
}

fn version(text: &str) -> Result<Version, ConstraintError> {
    if text.is_empty() {
        return Err(ConstraintError::Syntax(text.to_owned()));
    }
    if text.contains(char::is_whitespace) {
        return Err(ConstraintError::Whitespace(text.to_owned()));
    }
    text.parse().map_err(|error| ConstraintError::Version {
        text: text.to_owned(),
        error,
    })
}

fn foreign(s: &str) -> Option<ConstraintError> {
    let table: [(&'static str, &'static str); 6] = [
        ("||", "unions are not supported; choose one range"),
        (
            ",",
            "write the two bounds separated by a space, as in `>=1.0 <2.0`",
        ),
        (
            "<=",
            "use `<` with the next version, as in `<1.3` for `<=1.2.x`",
        ),
        ("~", "write `>=1.2 <1.3` for `~1.2`"),
        (
            "=",
            "write the version alone, as in `1.2.3`, for an exact match",
        ),
        (
            ">",
            "use `>=` with the next version, as in `>=1.2.1` for `>1.2.0`",
        ),
    ];
    let strip_ge = s.replace(">=", "");
    for (op, hint) in table {
        let found = match op {
            // `=` and `>` are foreign only outside the native `>=`.
            "=" | ">" => strip_ge.contains(op),
            _ => s.contains(op),
        };
        if found {
            return Some(ConstraintError::ForeignOperator { op, hint });
        }
    }
    None
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Constraint, ConstraintError> {
        if s.is_empty() {
            return Err(ConstraintError::Empty);
        }
        if s.len() > MAX_CONSTRAINT_LEN {
            return Err(ConstraintError::TooLong(s.chars().count()));
        }
        if let Some(e) = foreign(s) {
            return Err(e);
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(ConstraintError::Whitespace(s.to_owned()));
        }
        if s == "*" {
            return Ok(Constraint::Any);
        }
        if let Some(rest) = s.strip_prefix('^') {
            let v = version(rest.trim_start_matches(' '))?;
            if v.base().is_empty() {
                return Err(ConstraintError::CaretZero(v.to_string()));
            }
            return Ok(Constraint::Caret(v));
        }
        if let Some(rest) = s.strip_prefix(">=") {
            let rest = rest.trim_start_matches(' ');
            let Some((lower, upper)) = rest.split_once(' ') else {
                if rest.contains('<') {
                    // `>=1<2`: the two bounds need a space between them.
                    return Err(ConstraintError::Syntax(s.to_owned()));
                }
                return Ok(Constraint::AtLeast(version(rest)?));
            };
            let lower = version(lower)?;
            let upper = upper.trim_start_matches(' ');
            let Some(upper) = upper.strip_prefix('<') else {
                return Err(ConstraintError::Syntax(s.to_owned()));
            };
            let upper = version(upper.trim_start_matches(' '))?;
            if upper <= lower {
                return Err(ConstraintError::EmptyRange {
                    lower: lower.to_string(),
                    upper: upper.to_string(),
                });
            }
            return Ok(Constraint::Range(lower, upper));
        }
        if let Some(rest) = s.strip_prefix('<') {
            return Ok(Constraint::Below(version(rest.trim_start_matches(' '))?));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(Constraint::Exact(version(s)?));
        }
        Err(ConstraintError::Syntax(s.to_owned()))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Any => f.write_str("*"),
            Constraint::Exact(v) => write!(f, "{v}"),
            Constraint::AtLeast(v) => write!(f, ">={v}"),
            Constraint::Below(v) => write!(f, "<{v}"),
            Constraint::Range(a, b) => write!(f, ">={a} <{b}"),
            Constraint::Caret(v) => write!(f, "^{v}"),
        }
    }
}

/// `w < upper`, except that when `upper` is a release, pre-releases of `upper`'s own base are
/// excluded unless the lower bound has that same base.
fn below(w: &Version, upper: &Version, lower: Option<&Version>) -> bool {
    if w >= upper {
        return false;
    }
    if !upper.is_prerelease() && w.is_prerelease() && w.same_base(upper) {
        return lower.is_some_and(|l| l.same_base(upper));
    }
    true
}

impl Constraint {
    /// Whether `v` is in this set.
    #[must_use]
    pub fn matches(&self, v: &Version) -> bool {
        match self {
            Constraint::Any => true,
            Constraint::Exact(x) => v == x,
            Constraint::AtLeast(x) => v >= x,
            Constraint::Below(x) => below(v, x, None),
            Constraint::Range(a, b) => v >= a && below(v, b, Some(a)),
            Constraint::Caret(x) => {
                // Parsing guarantees a non-zero field exists.
                let first_non_zero = x.base().iter().position(|&n| n != 0).unwrap_or(0);
                v >= x && (0..=first_non_zero).all(|i| v.field(i) == x.field(i))
            }
        }
    }
}

serde_via_str!(Constraint);
