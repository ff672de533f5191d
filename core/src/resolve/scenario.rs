//! Scenario files: a registry, requirements and the expected answer, as TOML
//! (`test-vectors/resolve/*.toml`; the format is in `test-vectors/resolve/README.md`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Candidate, Dependency, MemorySource, Pkg, ResolveError, resolve};

/// A parsed scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it shows.
    pub description: String,
    /// The requirements: alias → constraint.
    pub root: BTreeMap<String, String>,
    /// Locked versions: package (as displayed, e.g. `c (private to a)`) → version.
    #[serde(default)]
    pub locked: BTreeMap<String, String>,
    /// Every release in the registry.
    #[serde(default, rename = "package")]
    pub packages: Vec<Release>,
    /// The expected outcome.
    pub expect: Expect,
}

/// One release.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Its alias.
    pub alias: String,
    /// Its version.
    pub version: String,
    /// Yanked by its publisher.
    #[serde(default)]
    pub yanked: bool,
    /// Dependencies: alias → constraint, or `{ version, private }`.
    #[serde(default)]
    pub deps: BTreeMap<String, Dep>,
}

/// A dependency as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Dep {
    /// `alias = "constraint"`.
    Plain(String),
    /// `alias = { version = "constraint", private = true }`.
    Table {
        /// The constraint.
        version: String,
        /// Private (its own scope).
        #[serde(default)]
        private: bool,
    },
}

/// The expected outcome: exactly one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Package (as displayed) → version.
    pub solution: Option<BTreeMap<String, String>>,
    /// Texts the failure report must contain.
    pub failure: Option<Vec<String>>,
    /// With `failure`: the whole report, exactly (a snapshot).
    pub report: Option<String>,
}

/// What running a scenario gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Package (as displayed) → version.
    Solution(BTreeMap<String, String>),
    /// The failure report.
    Failure(String),
}

impl Scenario {
    /// Parses a scenario file's text.
    ///
    /// # Errors
    /// A message naming the field or value at fault.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        if s.expect.solution.is_some() == s.expect.failure.is_some() {
            return Err("`[expect]` needs exactly one of `solution` and `failure`".to_owned());
        }
        Ok(s)
    }

    /// Builds the registry and runs the resolver.
    ///
    /// # Errors
    /// A message naming a version or constraint that does not parse, or a source failure.
    pub fn run(&self) -> Result<Outcome, String> {
        let mut source = MemorySource::new("scenario");
        for r in &self.packages {
            let mut c = Candidate::new(parse(&r.version, &r.alias)?);
            c.yanked = r.yanked;
            let deps = r
                .deps
                .iter()
                .map(|(alias, d)| dependency(alias, d))
                .collect::<Result<Vec<_>, _>>()?;
            source.add(&r.alias, c, deps);
        }
        let root = self
            .root
            .iter()
            .map(|(alias, c)| dependency(alias, &Dep::Plain(c.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut locked = BTreeMap::new();
        for (name, version) in &self.locked {
            locked.insert(package(name), parse(version, name)?);
        }
        match resolve(&source, &root, &locked) {
            Ok(r) => Ok(Outcome::Solution(
                r.packages
                    .iter()
                    .map(|(p, r)| (p.to_string(), r.candidate.version.to_string()))
                    .collect(),
            )),
            Err(ResolveError::NoSolution { report }) => Ok(Outcome::Failure(report)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether `outcome` is what the scenario expects; the reason when it is not.
    ///
    /// # Errors
    /// What differs.
    pub fn check(&self, outcome: &Outcome) -> Result<(), String> {
        match (outcome, &self.expect.solution, &self.expect.failure) {
            (Outcome::Solution(got), Some(want), _) if got == want => Ok(()),
            (Outcome::Failure(report), _, Some(needles)) => {
                if let Some(n) = needles.iter().find(|n| !report.contains(n.as_str())) {
                    return Err(format!("the report does not mention `{n}`:\n{report}"));
                }
                match &self.expect.report {
                    Some(want) if want.trim_end() != report.trim_end() => Err(format!(
                        "the report differs from the snapshot:\n--- expected\n{want}\n--- got\n{report}"
                    )),
                    _ => Ok(()),
                }
            }
            (got, _, _) => Err(format!("expected {:?}, got {got:?}", self.expect)),
        }
    }
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| format!("`{text}` (for `{what}`) does not parse: {e}"))
}

fn dependency(alias: &str, d: &Dep) -> Result<Dependency, String> {
    let (c, private) = match d {
        Dep::Plain(c) => (c, false),
        Dep::Table { version, private } => (version, *private),
    };
    Ok(Dependency {
        alias: alias.into(),
        constraint: parse(c, alias)?,
        private,
    })
}

/// `c` or `c (private to a → b)` back to a package.
fn package(name: &str) -> Pkg {
    match name
        .strip_suffix(')')
        .and_then(|n| n.split_once(" (private to "))
    {
        Some((alias, scope)) => Pkg::Dep {
            scope: scope.split(" → ").map(std::sync::Arc::from).collect(),
            alias: std::sync::Arc::from(alias),
        },
        None => Pkg::flat(name),
    }
}
