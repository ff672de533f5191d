//! The release record: what one version of a package is, which bytes it ships, what it needs.
//!
//! Goals: a release is immutable once its CID is in a version index; every string and list has
//! a limit, so a record is always far below the block limit; dependencies name aliases, never
//! identities (the consumer's curator decides what an alias means).
//!
//! Normative text: `spec/07-records.md`, "Release".

use std::collections::{BTreeMap, BTreeSet};

use crate::cid::{Cid, Codec};
use crate::codec::{Map, Value};
use crate::name::{Alias, Name};
use crate::profile::{self, Fields, RecordError};
use crate::version::{Constraint, Version};

/// The most platforms (artifacts) in one release.
pub const MAX_ARTIFACTS: usize = 64;
/// The most dependencies of one release.
pub const MAX_DEPENDENCIES: usize = 512;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION: usize = 1024;
/// The longest SPDX license expression.
pub const MAX_LICENSE: usize = 256;
/// The longest URL (homepage, repository).
pub const MAX_URL: usize = 512;
/// The most keywords.
pub const MAX_KEYWORDS: usize = 20;
/// The longest keyword.
pub const MAX_KEYWORD: usize = 32;
/// The most authors.
pub const MAX_AUTHORS: usize = 32;
/// The longest author entry.
pub const MAX_AUTHOR: usize = 256;

/// One artifact: raw bytes addressed by BLAKE3, with their size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// A raw-codec CID.
    pub cid: Cid,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes (for mirrors of registries that use SHA-256).
    pub sha256: [u8; 32],
}

/// A dependency on an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The versions accepted.
    pub constraint: Constraint,
    /// Resolved in its own scope (see `spec/12-resolution.md`).
    pub private: bool,
}

/// Where the release was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Repository URL.
    pub repository: String,
    /// Commit hash (7 to 64 lower-case hex digits).
    pub commit: String,
}

/// A release record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Package name (equal to the version index's name).
    pub name: Name,
    /// The version, as published.
    pub version: Version,
    /// Platform (`default` or `<os>-<arch>`) → artifact. At least one.
    pub artifacts: BTreeMap<String, Artifact>,
    /// Alias → dependency.
    pub dependencies: BTreeMap<Alias, Dependency>,
    /// One paragraph.
    pub description: Option<String>,
    /// An SPDX license expression.
    pub license: Option<String>,
    /// Homepage URL.
    pub homepage: Option<String>,
    /// Repository URL.
    pub repository: Option<String>,
    /// Search keywords.
    pub keywords: Vec<String>,
    /// Authors, free form (`Name <email>`).
    pub authors: Vec<String>,
    /// Source for on-demand builds.
    pub source: Option<Source>,
    /// A package-index snapshot that resolves the whole dependency tree offline.
    pub portable_index: Option<Cid>,
}

/// Whether `p` is `default` or `<os>-<arch>` with each part `[a-z0-9_]{1,32}`.
#[must_use]
pub fn is_platform(p: &str) -> bool {
    let part = |s: &str| {
        (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    p == "default"
        || p.split_once('-')
            .is_some_and(|(os, arch)| part(os) && part(arch))
}

/// Checks the syntax of an SPDX license expression (not the license list):
/// `expr = term *(("AND" / "OR") term)`, `term = "(" expr ")" / id ["+"] ["WITH" id]`.
#[must_use]
pub fn is_spdx_expression(s: &str) -> bool {
    let spaced = s.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    spdx_expr(&tokens, &mut pos, 0) && pos == tokens.len()
}

fn spdx_id(t: &str) -> bool {
    let t = t.strip_suffix('+').unwrap_or(t);
    let t = t.strip_prefix("DocumentRef-").map_or(t, |rest| {
        rest.split_once(":LicenseRef-")
            .map_or("", |(a, b)| if a.is_empty() { "" } else { b })
    });
    !t.is_empty()
        && !["AND", "OR", "WITH"].contains(&t)
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn spdx_expr(tokens: &[&str], pos: &mut usize, depth: usize) -> bool {
    if depth > 16 || !spdx_term(tokens, pos, depth) {
        return false;
    }
    while matches!(tokens.get(*pos), Some(&("AND" | "OR"))) {
        *pos += 1;
        if !spdx_term(tokens, pos, depth) {
            return false;
        }
    }
    true
}

fn spdx_term(tokens: &[&str], pos: &mut usize, depth: usize) -> bool {
    match tokens.get(*pos) {
        Some(&"(") => {
            *pos += 1;
            if !spdx_expr(tokens, pos, depth + 1) || tokens.get(*pos) != Some(&")") {
                return false;
            }
            *pos += 1;
            true
        }
        Some(t) if spdx_id(t) => {
            *pos += 1;
            if tokens.get(*pos) == Some(&"WITH") {
                *pos += 1;
                let ok = tokens
                    .get(*pos)
                    .is_some_and(|t| spdx_id(t) && !t.ends_with('+'));
                *pos += 1;
                return ok;
            }
            true
        }
        _ => false,
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

fn opt_text(
    f: &mut Fields,
    field: &'static str,
    max: usize,
    rule: fn(&str) -> bool,
    what: &str,
) -> Result<Option<String>, RecordError> {
    match f.optional(field) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.is_empty() || s.len() > max || !rule(&s) {
                return Err(f.invalid(field, format!("must be {what}, 1 to {max} bytes")));
            }
            Ok(Some(s))
        }
        Some(other) => Err(f.wrong_type(field, "string", &other)),
    }
}

fn opt_list(
    f: &mut Fields,
    field: &'static str,
    max_items: usize,
    max_len: usize,
    rule: fn(&str) -> bool,
) -> Result<Vec<String>, RecordError> {
    let Some(v) = f.optional(field) else {
        return Ok(Vec::new());
    };
    let Value::List(items) = v else {
        return Err(f.wrong_type(field, "list", &v));
    };
    if items.is_empty() || items.len() > max_items {
        return Err(f.invalid(field, format!("1 to {max_items} entries when present")));
    }
    items
        .into_iter()
        .map(|i| match i {
            Value::String(s) if !s.is_empty() && s.len() <= max_len && rule(&s) => Ok(s),
            _ => Err(f.invalid(field, format!("entries are text of 1 to {max_len} bytes"))),
        })
        .collect()
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && !s.contains(char::is_whitespace)
        && printable(s)
}

fn is_keyword(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_commit(s: &str) -> bool {
    (7..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Release {
    /// A release with its required fields and no optional metadata (description, license,
    /// links, keywords, authors, source, portable index).
    #[must_use]
    pub fn new(
        name: Name,
        version: Version,
        artifacts: BTreeMap<String, Artifact>,
        dependencies: BTreeMap<Alias, Dependency>,
    ) -> Release {
        Release {
            name,
            version,
            artifacts,
            dependencies,
            description: None,
            license: None,
            homepage: None,
            repository: None,
            keywords: Vec::new(),
            authors: Vec::new(),
            source: None,
            portable_index: None,
        }
    }

    /// The record value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name", Value::text(self.name.as_str()));
        m.insert("version", Value::text(self.version.to_string()));
        let mut arts = Map::new();
        for (p, a) in &self.artifacts {
            let mut am = Map::new();
            am.insert("cid", Value::Link(a.cid.into()));
            am.insert("size", Value::Integer(i128::from(a.size)));
            am.insert("sha256", Value::Bytes(a.sha256.to_vec()));
            arts.insert(p.clone(), Value::Map(am));
        }
        m.insert("artifacts", Value::Map(arts));
        let mut deps = Map::new();
        for (alias, d) in &self.dependencies {
            let mut dm = Map::new();
            dm.insert("constraint", Value::text(d.constraint.to_string()));
            if d.private {
                dm.insert("private", Value::Bool(true));
            }
            deps.insert(alias.as_str(), Value::Map(dm));
        }
        m.insert("dependencies", Value::Map(deps));
        for (k, v) in [
            ("description", &self.description),
            ("license", &self.license),
            ("homepage", &self.homepage),
            ("repository", &self.repository),
        ] {
            if let Some(v) = v {
                m.insert(k, Value::text(v.clone()));
            }
        }
        for (k, v) in [("keywords", &self.keywords), ("authors", &self.authors)] {
            if !v.is_empty() {
                m.insert(
                    k,
                    Value::List(v.iter().cloned().map(Value::String).collect()),
                );
            }
        }
        if let Some(s) = &self.source {
            let mut sm = Map::new();
            sm.insert("repository", Value::text(s.repository.clone()));
            sm.insert("commit", Value::text(s.commit.clone()));
            m.insert("source", Value::Map(sm));
        }
        if let Some(p) = self.portable_index {
            m.insert("portable_index", Value::Link(p.into()));
        }
        Value::Map(m)
    }

    /// Parses and checks a release record.
    pub fn from_value(v: Value) -> Result<Release, RecordError> {
        let mut f = Fields::new("release", v)?;
        let name_text = f.text("name")?;
        let name = name_text
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("name", e.to_string()))?;
        let version_text = f.text("version")?;
        let version = version_text
            .parse()
            .map_err(|e: crate::version::VersionError| f.invalid("version", e.to_string()))?;
        let artifacts = read_artifacts(&mut f)?;
        let dependencies = read_dependencies(&mut f)?;
        let description = opt_text(
            &mut f,
            "description",
            MAX_DESCRIPTION,
            printable_or_newline,
            "printable text",
        )?;
        let license = opt_text(
            &mut f,
            "license",
            MAX_LICENSE,
            is_spdx_expression,
            "an SPDX license expression",
        )?;
        let homepage = opt_text(&mut f, "homepage", MAX_URL, is_url, "an http(s) URL")?;
        let repository = opt_text(&mut f, "repository", MAX_URL, is_url, "an http(s) URL")?;
        let keywords = opt_list(&mut f, "keywords", MAX_KEYWORDS, MAX_KEYWORD, is_keyword)?;
        let authors = opt_list(&mut f, "authors", MAX_AUTHORS, MAX_AUTHOR, printable)?;
        let source = match f.optional("source") {
            None => None,
            Some(v) => {
                let mut s = Fields::new("release source", v)?;
                let repository = s.text("repository")?;
                let commit = s.text("commit")?;
                if !is_url(&repository) || repository.len() > MAX_URL {
                    return Err(
                        s.invalid("repository", "must be an http(s) URL of at most 512 bytes")
                    );
                }
                if !is_commit(&commit) {
                    return Err(s.invalid("commit", "must be 7 to 64 lower-case hex digits"));
                }
                s.finish()?;
                Some(Source { repository, commit })
            }
        };
        let portable_index = f.optional_link("portable_index")?;
        f.finish()?;
        let release = Release {
            name,
            version,
            artifacts,
            dependencies,
            description,
            license,
            homepage,
            repository,
            keywords,
            authors,
            source,
            portable_index,
        };
        // The version is printed as written, so it round-trips; this keeps the record canonical.
        debug_assert_eq!(release.version.to_string(), version_text);
        Ok(release)
    }

    /// The record block and its CID.
    pub fn block(&self) -> Result<(Cid, Vec<u8>), RecordError> {
        let bytes = profile::encode_record(&self.to_value())?;
        Ok((Cid::of_record(&bytes), bytes))
    }

    /// Decodes a release block (record profile, then the release schema).
    pub fn decode(bytes: &[u8]) -> Result<Release, RecordError> {
        Release::from_value(profile::decode_record(bytes)?)
    }
}

fn printable_or_newline(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n')
}

fn read_artifacts(f: &mut Fields) -> Result<BTreeMap<String, Artifact>, RecordError> {
    let m = match f.required("artifacts")? {
        Value::Map(m) => m,
        other => return Err(f.wrong_type("artifacts", "map", &other)),
    };
    if m.is_empty() || m.len() > MAX_ARTIFACTS {
        return Err(f.invalid("artifacts", format!("1 to {MAX_ARTIFACTS} platforms")));
    }
    let mut out = BTreeMap::new();
    for (platform, v) in m.into_entries() {
        if !is_platform(&platform) {
            return Err(f.invalid(
                "artifacts",
                format!("`{platform}` is not `default` or `<os>-<arch>`"),
            ));
        }
        let mut a = Fields::new("artifact", v)?;
        let cid = a.link("cid")?;
        if cid.codec() != Codec::Raw {
            return Err(a.invalid("cid", "an artifact CID uses the raw codec"));
        }
        let art = Artifact {
            cid,
            size: a.uint("size")?,
            sha256: a.bytes_exact::<32>("sha256")?,
        };
        a.finish()?;
        out.insert(platform, art);
    }
    Ok(out)
}

fn read_dependencies(f: &mut Fields) -> Result<BTreeMap<Alias, Dependency>, RecordError> {
    let m = match f.required("dependencies")? {
        Value::Map(m) => m,
        other => return Err(f.wrong_type("dependencies", "map", &other)),
    };
    if m.len() > MAX_DEPENDENCIES {
        return Err(f.invalid("dependencies", format!("at most {MAX_DEPENDENCIES}")));
    }
    let mut folded = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (alias, v) in m.into_entries() {
        let alias: Alias = alias
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("dependencies", e.to_string()))?;
        if !folded.insert(alias.folded()) {
            return Err(f.invalid(
                "dependencies",
                format!("`{alias}` differs from another alias only in case"),
            ));
        }
        let mut d = Fields::new("dependency", v)?;
        let text = d.text("constraint")?;
        let constraint: Constraint = text
            .parse()
            .map_err(|e: crate::version::ConstraintError| d.invalid("constraint", e.to_string()))?;
        if constraint.to_string() != text {
            return Err(d.invalid(
                "constraint",
                format!("must be written canonically: `{constraint}`"),
            ));
        }
        let private = match d.optional("private") {
            None => false,
            Some(Value::Bool(true)) => true,
            Some(_) => {
                return Err(d.invalid("private", "is `true` when present (omit it otherwise)"));
            }
        };
        d.finish()?;
        out.insert(
            alias,
            Dependency {
                constraint,
                private,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Release {
        let mut artifacts = BTreeMap::new();
        artifacts.insert(
            "default".to_owned(),
            Artifact {
                cid: Cid::of_raw(b"tarball"),
                size: 7,
                sha256: [1; 32],
            },
        );
        let mut dependencies = BTreeMap::new();
        dependencies.insert(
            "libbar".parse().expect("alias"),
            Dependency {
                constraint: "^2.0".parse().expect("c"),
                private: false,
            },
        );
        dependencies.insert(
            "zlib".parse().expect("alias"),
            Dependency {
                constraint: ">=1.2 <2".parse().expect("c"),
                private: true,
            },
        );
        Release {
            name: "libfoo".parse().expect("name"),
            version: "1.2.0".parse().expect("version"),
            artifacts,
            dependencies,
            description: Some("A library.".into()),
            license: Some("MIT OR Apache-2.0".into()),
            homepage: Some("https://example.org/libfoo".into()),
            repository: None,
            keywords: vec!["parsing".into()],
            authors: vec!["Lucy <lucy@example.org>".into()],
            source: Some(Source {
                repository: "https://example.org/libfoo.git".into(),
                commit: "0123abc".into(),
            }),
            portable_index: None,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let (cid, bytes) = r.block().expect("block");
        assert_eq!(Release::decode(&bytes), Ok(r));
        assert_eq!(cid, Cid::of_record(&bytes));
    }

    #[test]
    fn control_characters_are_unicode_cc_c1_included() {
        for bad in ["a\u{0}b", "a\u{1f}b", "a\u{7f}b", "a\u{85}b", "a\u{9f}b"] {
            assert!(!printable(bad) && !printable_or_newline(bad), "{bad:?}");
        }
        assert!(printable("a\u{a0}b"), "U+00A0 is not a control character");
        assert!(printable_or_newline("a\nb") && !printable("a\nb"));
    }

    #[test]
    fn spdx_syntax() {
        for ok in [
            "MIT",
            "MIT OR Apache-2.0",
            "(MIT AND BSD-3-Clause) OR GPL-2.0+",
            "Apache-2.0 WITH LLVM-exception",
            "LicenseRef-mine",
            "DocumentRef-x:LicenseRef-y",
        ] {
            assert!(is_spdx_expression(ok), "{ok}");
        }
        for bad in [
            "",
            "MIT OR",
            "(MIT",
            "MIT AND AND BSD",
            "MIT/Apache",
            "MIT WITH",
            "a b",
            "MIT or Apache-2.0",
            "MIT and BSD-3-Clause",
        ] {
            assert!(!is_spdx_expression(bad), "{bad}");
        }
    }

    #[test]
    fn limits_and_rules_are_enforced() {
        let mut r = sample();
        r.artifacts.insert(
            "Linux-x86".into(),
            Artifact {
                cid: Cid::of_raw(b"x"),
                size: 1,
                sha256: [0; 32],
            },
        );
        assert!(matches!(
            Release::from_value(r.to_value()),
            Err(RecordError::InvalidField {
                field: "artifacts",
                ..
            })
        ));
        let mut r = sample();
        r.artifacts.insert(
            "linux-x86_64".into(),
            Artifact {
                cid: Cid::of_record(b"x"),
                size: 1,
                sha256: [0; 32],
            },
        );
        assert!(matches!(
            Release::from_value(r.to_value()),
            Err(RecordError::InvalidField { field: "cid", .. })
        ));
        let mut r = sample();
        r.keywords = vec!["x".into(); MAX_KEYWORDS + 1];
        assert!(Release::from_value(r.to_value()).is_err());
        let mut r = sample();
        r.license = Some("MIT/Apache".into());
        assert!(matches!(
            Release::from_value(r.to_value()),
            Err(RecordError::InvalidField {
                field: "license",
                ..
            })
        ));
        let mut v = sample().to_value();
        if let Value::Map(m) = &mut v {
            m.insert("downloads", Value::Integer(5));
        }
        assert!(matches!(
            Release::from_value(v),
            Err(RecordError::UnknownField { .. })
        ));
    }
}
