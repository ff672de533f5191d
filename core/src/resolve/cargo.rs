//! Real data: the Cargo registry index as a package source.
//!
//! Reads both forms of the index: the plain files (one JSON object per version per line) and
//! the cache files cargo keeps under `~/.cargo/registry/index/*/.cache/` (a one-byte cache
//! version, 3; a little-endian u32 index format version; a NUL-terminated index version; then
//! pairs of NUL-terminated version and JSON entries). Takes normal, non-optional dependencies,
//! and translates Cargo's requirement syntax into Cairn's native constraints.
//!
//! A translation is **exact** when the native constraint admits exactly the same
//! `MAJOR.MINOR.PATCH` releases as the Cargo requirement. Pre-releases follow Cairn's rule
//! (04-versions.md: pure set membership, releases preferred) rather than Cargo's. A pre-release
//! the requirement names stays in the constraint (`=0.5.0-pre.0` is `0.5.0-pre.0`, `^1.0.0-beta.2`
//! is `>=1.0.0-beta.2 <2.0.0`); the translation is exact when the range holds no other
//! triple's pre-releases, and otherwise counted inexact (Cargo takes pre-releases of the named
//! triple only), as is a requirement that bounds a pre-release from above or admits nothing.
//! Inexact translations are listed, never silent.

use std::path::{Path, PathBuf};

use cairn_protocol::version::{Constraint, Version};
use semver::{Comparator, Op, VersionReq};

use super::{Candidate, Dependency, MemorySource, PackageSource, SourceError};

type Triple = (u64, u64, u64);

/// A translated requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The native constraint.
    pub constraint: Constraint,
    /// Why it is not exact, if it is not.
    pub inexact: Option<String>,
}

/// Translates a Cargo version requirement (`^1.2`, `~0.3.1`, `>=1, <1.5`, `=2.0.1`, `1.*`, …).
///
/// # Errors
/// When `req` is not a Cargo requirement.
pub fn translate(req: &str) -> Result<Translation, String> {
    let parsed: VersionReq = req
        .parse()
        .map_err(|e| format!("`{req}` is not a Cargo requirement: {e}"))?;
    let (mut lo, mut hi): (Triple, Option<Triple>) = ((0, 0, 0), None);
    let mut inexact = None;
    // A pre-release named as (or within) a lower bound: `=X-pre`, `>=X-pre`, `^X-pre`, `~X-pre`.
    let mut pre_floor: Option<(Triple, String, bool)> = None;
    for c in &parsed.comparators {
        if !c.pre.is_empty() {
            let floor = (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
            match c.op {
                Op::Exact | Op::GreaterEq | Op::Caret | Op::Tilde => {
                    let exact = c.op == Op::Exact && c.minor.is_some() && c.patch.is_some();
                    if pre_floor.as_ref().is_none_or(|(t, _, _)| floor > *t) {
                        pre_floor = Some((floor, c.pre.to_string(), exact));
                    }
                }
                _ => {
                    inexact = Some(format!(
                        "`{req}` bounds a pre-release from above or excludes it; Cairn's range keeps the release triples exact"
                    ));
                }
            }
        }
        let (l, h) = interval(c);
        lo = lo.max(l);
        hi = match (hi, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if hi.is_some_and(|h| h <= lo) {
        return empty(req, lo);
    }
    // Whether Cargo itself takes a pre-release of the floor's triple. Its comparators without a
    // pre-release decide the same for every pre-release of a triple (`>=1`, `<=1`, `~1` and `=1`
    // take none of 1.x's), so two probes settle them: the named pre-release and one above it.
    let takes = |v: &str| {
        v.parse::<semver::Version>()
            .is_ok_and(|v| parsed.matches(&v))
    };
    let text = match pre_floor.filter(|(t, _, _)| *t == lo) {
        None => native(lo, hi),
        Some((t, pre, exact)) => {
            // Cargo takes pre-releases of the named triple only; Cairn takes every pre-release
            // inside the range, so the two agree exactly when the range ends with that triple.
            let floor = format!("{}-{pre}", show(t));
            if exact && !takes(&floor) {
                // `=X-pre` admits that one version at most; another comparator refuses it.
                return empty(req, lo);
            }
            if exact {
                floor
            } else {
                let probes_taken = takes(&floor) && takes(&format!("{floor}.0"));
                if (hi != Some(next_patch(t)) || !probes_taken) && inexact.is_none() {
                    inexact = Some(format!(
                        "`{req}` admits pre-releases of {} only; Cairn admits every pre-release in the range",
                        show(t)
                    ));
                }
                match hi {
                    None => format!(">={floor}"),
                    Some(h) => format!(">={floor} <{}", show(h)),
                }
            }
        }
    };
    Ok(Translation {
        constraint: text
            .parse()
            .map_err(|e| format!("internal: `{text}` from `{req}`: {e}"))?,
        inexact,
    })
}

/// A requirement that admits nothing: keep a constraint that admits nothing of the same kind.
fn empty(req: &str, lo: Triple) -> Result<Translation, String> {
    let text = format!(">={} <{}", show(lo), show(next_patch(lo)));
    Ok(Translation {
        constraint: text.parse().map_err(|e| format!("{text}: {e}"))?,
        inexact: Some(format!("`{req}` admits no version; translated as `{text}`")),
    })
}

/// One comparator as a half-open interval of release triples.
fn interval(c: &Comparator) -> (Triple, Option<Triple>) {
    let (major, minor, patch) = (c.major, c.minor, c.patch);
    let floor = (major, minor.unwrap_or(0), patch.unwrap_or(0));
    // The first triple above everything the written fields cover.
    let above = match (minor, patch) {
        (None, _) => (major.saturating_add(1), 0, 0),
        (Some(m), None) => (major, m.saturating_add(1), 0),
        (Some(m), Some(p)) => (major, m, p.saturating_add(1)),
    };
    match c.op {
        Op::Greater => (above, None),
        Op::GreaterEq => (floor, None),
        Op::Less => ((0, 0, 0), Some(floor)),
        Op::LessEq => ((0, 0, 0), Some(above)),
        Op::Tilde => match minor {
            None => (floor, Some((major.saturating_add(1), 0, 0))),
            Some(m) => (floor, Some((major, m.saturating_add(1), 0))),
        },
        Op::Caret => match (major, minor, patch) {
            (0, None, _) => (floor, Some((1, 0, 0))),
            (0, Some(0), None) => (floor, Some((0, 1, 0))),
            (0, Some(0), Some(p)) => (floor, Some((0, 0, p.saturating_add(1)))),
            (0, Some(m), _) => (floor, Some((0, m.saturating_add(1), 0))),
            _ => (floor, Some((major.saturating_add(1), 0, 0))),
        },
        // `=`, `*`, and (as `Op` is non-exhaustive) any future operator: the written fields.
        _ => (floor, Some(above)),
    }
}

/// `[lo, hi)` in the native grammar (exact on release triples).
fn native(lo: Triple, hi: Option<Triple>) -> String {
    match hi {
        None if lo == (0, 0, 0) => "*".to_owned(),
        None => format!(">={}", show(lo)),
        Some(h) if lo == (0, 0, 0) => format!("<{}", show(h)),
        Some(h) if h == next_patch(lo) => show(lo),
        Some(h) if caret_upper(lo) == Some(h) => format!("^{}", show(lo)),
        Some(h) => format!(">={} <{}", show(lo), show(h)),
    }
}

fn next_patch(t: Triple) -> Triple {
    (t.0, t.1, t.2.saturating_add(1))
}

/// The upper end of Cairn's `^t` on release triples.
fn caret_upper(t: Triple) -> Option<Triple> {
    match t {
        (0, 0, 0) => None,
        (0, 0, p) => Some((0, 0, p.checked_add(1)?)),
        (0, m, _) => Some((0, m.checked_add(1)?, 0)),
        (maj, _, _) => Some((maj.checked_add(1)?, 0, 0)),
    }
}

fn show(t: Triple) -> String {
    format!("{}.{}.{}", t.0, t.1, t.2)
}

/// A dependency that could not be taken as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `crate@version` that declares it.
    pub release: String,
    /// The dependency (the real crate name).
    pub dependency: String,
    /// The requirement as written.
    pub requirement: String,
    /// What happened.
    pub reason: String,
}

/// The Cargo registry index read from disk, as a package source.
#[derive(Debug, Clone, Default)]
pub struct CargoIndex {
    source: MemorySource,
    /// Releases read.
    pub releases: usize,
    /// Versions Cairn refuses (build metadata is dropped and counted here too).
    pub skipped: Vec<Note>,
    /// Requirements translated inexactly.
    pub inexact: Vec<Note>,
    /// Platform-specific dependencies left out.
    pub platform_specific: usize,
}

impl CargoIndex {
    /// Reads every index file under `dir` (plain or cache form; names with a dot are skipped).
    ///
    /// # Errors
    /// When a file cannot be read or is neither form.
    pub fn read_dir(dir: &Path) -> Result<CargoIndex, String> {
        let mut files = Vec::new();
        walk(dir, &mut files).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        files.sort();
        let mut index = CargoIndex {
            source: MemorySource::new("the crates.io index"),
            ..CargoIndex::default()
        };
        for f in files {
            let bytes =
                std::fs::read(&f).map_err(|e| format!("cannot read `{}`: {e}", f.display()))?;
            let entries = entries(&bytes).map_err(|e| format!("`{}`: {e}", f.display()))?;
            for json in entries {
                index
                    .add(&json)
                    .map_err(|e| format!("`{}`: {e}", f.display()))?;
            }
        }
        Ok(index)
    }

    /// Adds one index entry (one JSON object).
    ///
    /// # Errors
    /// When it is not an index entry.
    pub fn add(&mut self, json: &str) -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not a JSON index entry: {e}"))?;
        let name = v["name"].as_str().ok_or("an index entry without `name`")?;
        let vers = v["vers"].as_str().ok_or("an index entry without `vers`")?;
        let release = format!("{name}@{vers}");
        // Cairn versions carry no build metadata; the rest of semver is a subset of Cairn's.
        let (plain, build) = vers.split_once('+').unwrap_or((vers, ""));
        let version: Version = match plain.parse() {
            Ok(v) => v,
            Err(e) => {
                self.skipped.push(Note {
                    release,
                    dependency: String::new(),
                    requirement: String::new(),
                    reason: format!("version refused: {e}"),
                });
                return Ok(());
            }
        };
        if !build.is_empty() {
            self.skipped.push(Note {
                release: release.clone(),
                dependency: String::new(),
                requirement: String::new(),
                reason: format!("build metadata `+{build}` dropped"),
            });
        }
        let mut deps = Vec::new();
        for d in v["deps"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let kind = d["kind"].as_str().unwrap_or("normal");
            if kind != "normal" || d["optional"].as_bool().unwrap_or(false) {
                continue;
            }
            // Platform-specific dependencies (`[target.'cfg(…)'.dependencies]`) apply to
            // some platforms only, and one crate may appear once per platform with different
            // requirements; Cairn has no platform conditions on dependencies yet, so they are
            // left out and counted.
            if !d["target"].is_null() {
                self.platform_specific += 1;
                continue;
            }
            let crate_name = d["package"]
                .as_str()
                .or_else(|| d["name"].as_str())
                .ok_or("a dependency without `name`")?;
            let req = d["req"].as_str().unwrap_or("*");
            let note = |reason: String| Note {
                release: release.clone(),
                dependency: crate_name.to_owned(),
                requirement: req.to_owned(),
                reason,
            };
            match translate(req) {
                Ok(t) => {
                    if let Some(why) = t.inexact {
                        self.inexact.push(note(why));
                    }
                    deps.push(Dependency {
                        alias: crate_name.into(),
                        constraint: t.constraint,
                        private: false,
                    });
                }
                Err(e) => self.skipped.push(note(e)),
            }
        }
        let mut c = Candidate::new(version);
        c.yanked = v["yanked"].as_bool().unwrap_or(false);
        self.source.add(name, c, deps);
        self.releases += 1;
        Ok(())
    }

    /// Every crate name held.
    #[must_use]
    pub fn crates(&self) -> Vec<String> {
        self.source.aliases()
    }
}

impl PackageSource for CargoIndex {
    fn versions(&self, alias: &str) -> Result<Option<std::sync::Arc<[Candidate]>>, SourceError> {
        self.source.versions(alias)
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<std::sync::Arc<[Dependency]>, SourceError> {
        self.source.dependencies(alias, version)
    }

    fn origin(&self, alias: &str) -> std::sync::Arc<str> {
        self.source.origin(alias)
    }

    fn index(&self) -> String {
        "the crates.io index".to_owned()
    }
}

/// Index files under `dir`: crate names never contain a dot, so files with one (`config.json`,
/// a README, lock files) and hidden folders below `dir` (`.git`) are not index files.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let dotted = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains('.'));
        if dotted {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The JSON entries of one index file, in either form.
pub(crate) fn entries(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.first() == Some(&3) && bytes.contains(&0) {
        // Cache form: version byte, u32 index format version, index version, then pairs.
        let rest = bytes.get(5..).ok_or("a truncated cache header")?;
        let mut parts = rest.split(|&b| b == 0);
        parts
            .next()
            .ok_or("a cache file without its index version")?;
        let mut out = Vec::new();
        while let Some(version) = parts.next() {
            if version.is_empty() {
                break;
            }
            let json = parts.next().ok_or("a cache entry without its JSON")?;
            out.push(
                String::from_utf8(json.to_vec()).map_err(|_| "a cache entry that is not UTF-8")?,
            );
        }
        Ok(out)
    } else if bytes.first().is_some_and(|&b| b < 3) && bytes.contains(&0) {
        Err(format!(
            "a cargo cache file of version {} (only version 3 is read)",
            bytes[0]
        ))
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| "neither a cache file nor UTF-8 text")?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(req: &str) -> String {
        translate(req).expect("translate").constraint.to_string()
    }

    #[test]
    fn common_requirements_translate_exactly() {
        for (cargo, native) in [
            ("1.2.3", "^1.2.3"),
            ("^0.2.3", "^0.2.3"),
            ("^0.0.3", "0.0.3"),
            ("^0", "<1.0.0"),
            ("^0.0", "<0.1.0"),
            ("~1.2.3", ">=1.2.3 <1.3.0"),
            ("~1", "^1.0.0"),
            ("=1.2.3", "1.2.3"),
            ("=1.2", ">=1.2.0 <1.3.0"),
            (">1.2.3", ">=1.2.4"),
            ("<=1.2", "<1.3.0"),
            (">=1, <1.5", ">=1.0.0 <1.5.0"),
            ("1.*", "^1.0.0"),
            ("*", "*"),
        ] {
            let got = translate(cargo).expect(cargo);
            assert_eq!(got.constraint.to_string(), native, "{cargo}");
            assert_eq!(got.inexact, None, "{cargo}");
        }
        assert!(translate(">=1.0.0-alpha").expect("pre").inexact.is_some());
        // A named pre-release stays in the constraint (it used to become the plain release).
        for (cargo, native, exact) in [
            ("=0.5.0-pre.0", "0.5.0-pre.0", true),
            ("=0.11.0-pre.3", "0.11.0-pre.3", true),
            ("^1.0.0-beta.2", ">=1.0.0-beta.2 <2.0.0", false),
            ("~1.2.3-rc.1", ">=1.2.3-rc.1 <1.3.0", false),
            (">=1.2.3-rc.1, <1.2.4", ">=1.2.3-rc.1 <1.2.4", true),
        ] {
            let got = translate(cargo).expect(cargo);
            assert_eq!(got.constraint.to_string(), native, "{cargo}");
            assert_eq!(got.inexact.is_none(), exact, "{cargo}: {:?}", got.inexact);
        }
        assert!(translate(">=2, <1").expect("empty").inexact.is_some());
        // Cargo's comparators without a pre-release refuse every pre-release of the triples
        // they cover (`<=1` takes no 1.x pre-release; `^1.1.2` takes nothing below 1.1.2).
        for cargo in [
            "=1.1.2-beta.2, <=1",
            "=1.1.2-beta.2, ^1.1.2",
            "=1.1.2-beta.2, ~1",
        ] {
            let got = translate(cargo).expect(cargo);
            assert!(
                got.inexact
                    .as_deref()
                    .is_some_and(|n| n.contains("admits no version")),
                "{cargo}: {got:?}"
            );
        }
        let got = translate(">=1.1.2-beta.2, =1.1.2").expect("pinned release");
        assert!(got.inexact.is_some(), "{got:?}");
        assert!(translate("not a req").is_err());
        assert_eq!(t(">= 1.2.3"), ">=1.2.3");
    }

    fn req() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just(""),
            Just("="),
            Just(">"),
            Just(">="),
            Just("<"),
            Just("<="),
            Just("~"),
            Just("^")
        ];
        let comparator = (
            op,
            0..3u64,
            prop::option::of(0..3u64),
            prop::option::of(0..3u64),
            prop::option::of(prop_oneof![Just("alpha"), Just("beta.2"), Just("rc.1")]),
        )
            .prop_map(|(op, a, b, c, pre)| match (b, c, pre) {
                (None, _, _) => format!("{op}{a}"),
                (Some(b), None, _) => format!("{op}{a}.{b}"),
                (Some(b), Some(c), None) => format!("{op}{a}.{b}.{c}"),
                (Some(b), Some(c), Some(p)) => format!("{op}{a}.{b}.{c}-{p}"),
            });
        prop::collection::vec(comparator, 1..3).prop_map(|v| v.join(", "))
    }

    fn version() -> impl Strategy<Value = String> {
        (
            0..4u64,
            0..4u64,
            0..4u64,
            prop::option::of(prop_oneof![
                Just("alpha"),
                Just("alpha.1"),
                Just("beta.2"),
                Just("beta.3"),
                Just("rc.1")
            ]),
        )
            .prop_map(|(a, b, c, pre)| match pre {
                None => format!("{a}.{b}.{c}"),
                Some(p) => format!("{a}.{b}.{c}-{p}"),
            })
    }

    proptest! {
        #[test]
        fn pre_releases_cargo_takes_are_taken_and_named_ones_exactly(r in req(), v in version()) {
            let cargo: VersionReq = r.parse().expect("generated requirement");
            let t = translate(&r).expect("translate");
            let sv: semver::Version = v.parse().expect("semver");
            let cv: Version = v.parse().expect("cairn");
            let note = t.inexact.as_deref().unwrap_or("");
            if t.inexact.is_none() && t.constraint.to_string().contains('-') {
                // A pre-release kept in the constraint, translated exactly: the same set,
                // pre-releases included.
                prop_assert_eq!(cargo.matches(&sv), t.constraint.matches(&cv), "{} vs {} on {}", r, t.constraint, v);
            } else if !sv.pre.is_empty()
                && cargo.matches(&sv)
                && !note.contains("from above")
                && !note.contains("admits no version")
            {
                // Whatever pre-release Cargo takes, Cairn takes (Cairn may take more: its range
                // admits every pre-release inside it, releases preferred).
                prop_assert!(t.constraint.matches(&cv), "{} vs {} on {}", r, t.constraint, v);
            }
        }

        #[test]
        fn exact_translations_agree_with_cargo_on_releases(
            r in req(), a in 0..4u64, b in 0..4u64, c in 0..4u64
        ) {
            let cargo: VersionReq = r.parse().expect("generated requirement");
            let t = translate(&r).expect("translate");
            let note = t.inexact.as_deref().unwrap_or("");
            // Releases: exact, and so is every translation that is inexact only about
            // pre-releases.
            if t.inexact.is_none() || note.contains("pre-releases of") {
                let v = format!("{a}.{b}.{c}");
                let sv: semver::Version = v.parse().expect("semver");
                let cv: Version = v.parse().expect("cairn");
                prop_assert_eq!(cargo.matches(&sv), t.constraint.matches(&cv), "{} vs {} on {}", r, t.constraint, v);
            }
        }
    }

    #[test]
    fn both_file_forms_are_read() {
        let line = r#"{"name":"foo","vers":"1.0.0","deps":[{"name":"bar","req":"^0.3","kind":"normal","optional":false},{"name":"dev","req":"1","kind":"dev","optional":false},{"name":"opt","req":"1","optional":true}],"yanked":false}"#;
        let plain = entries(format!("{line}\n\n").as_bytes()).expect("plain");
        assert_eq!(plain, [line]);
        let mut cache = vec![3u8, 2, 0, 0, 0];
        cache.extend_from_slice(b"abc\x001.0.0\x00");
        cache.extend_from_slice(line.as_bytes());
        cache.push(0);
        assert_eq!(entries(&cache).expect("cache"), [line]);
        assert!(entries(&[1, 0, 0]).is_err(), "old cache versions are named");
        let mut index = CargoIndex::default();
        index.add(line).expect("add");
        let deps = index
            .dependencies("foo", &"1.0.0".parse().expect("v"))
            .expect("deps");
        assert_eq!(deps.len(), 1, "dev and optional dependencies are left out");
        assert_eq!(deps[0].constraint.to_string(), "^0.3.0");
    }
}
