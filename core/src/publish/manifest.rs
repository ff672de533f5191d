//! `cairn.toml`: what a publisher writes about a package. Specified in `spec/10-manifest.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_protocol::name::{Alias, Name};
use cairn_protocol::release::{Dependency, is_platform, is_spdx_expression};
use cairn_protocol::version::{Constraint, Version};
use serde::Deserialize;
use thiserror::Error;

/// The manifest file name.
pub const MANIFEST: &str = "cairn.toml";

/// Why a manifest was refused. Every variant names the file and what to change.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error(
        "cannot read `{path}`: {cause}\n\nhint: run in the package directory, or pass `--path DIR`"
    )]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// TOML syntax or an unknown or mistyped field.
    #[error("`{path}` is not a valid manifest: {message}")]
    Syntax {
        /// The path.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A value whose line is known breaks a rule.
    #[error("`{path}`, line {line}: `{field}` {reason}")]
    At {
        /// The path.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The field.
        field: String,
        /// The rule and, where possible, the fix.
        reason: String,
    },
    /// A field whose value breaks a rule.
    #[error("`{path}`: `{field}` {reason}")]
    Field {
        /// The path.
        path: PathBuf,
        /// The field.
        field: String,
        /// The rule and, where possible, the fix.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    package: Option<RawPackage>,
    index: Option<RawIndex>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Spanned<RawDependency>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    curator: toml::Spanned<String>,
    #[serde(default)]
    layers: Vec<toml::Spanned<String>>,
    #[serde(default)]
    overrides: BTreeMap<String, toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: String,
    version: String,
    description: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
    repository: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    assets: BTreeMap<String, String>,
}

/// A dependency as written: a constraint, or a table of `version` and `private`. Read by hand
/// rather than as an untagged enum, so that a mistyped key (`privat = true`) is refused with its
/// line instead of being dropped.
#[derive(Debug)]
enum RawDependency {
    Constraint(String),
    Table {
        version: Option<String>,
        private: bool,
        path: Option<String>,
    },
}

impl<'de> Deserialize<'de> for RawDependency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawDependency, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawDependency;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a constraint such as \"^1.2\", or { version = \"^1.2\", private = true }, or { path = \"../libfoo\" }",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDependency, E> {
                Ok(RawDependency::Constraint(v.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawDependency, A::Error> {
                const FIELDS: &[&str] = &["version", "private", "path"];
                let (mut version, mut private, mut path) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "version" if version.is_none() => version = Some(map.next_value()?),
                        "private" if private.is_none() => private = Some(map.next_value()?),
                        "path" if path.is_none() => path = Some(map.next_value()?),
                        "version" | "private" | "path" => {
                            return Err(serde::de::Error::custom(format!("`{key}` given twice")));
                        }
                        other => return Err(serde::de::Error::unknown_field(other, FIELDS)),
                    }
                }
                if version.is_none() && path.is_none() {
                    return Err(serde::de::Error::missing_field("version"));
                }
                Ok(RawDependency::Table {
                    version,
                    private: private.unwrap_or(false),
                    path,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A checked `cairn.toml` as a project reads it: a consumer's choice of curator and its
/// dependencies, and, when the project is also a package, what a publisher needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The `[package]` table, checked (its dependencies are the project's).
    pub package: Option<Manifest>,
    /// `[index] curator`: the curator's package index, as written (an ID or a petname).
    pub curator: Option<String>,
    /// `[index] layers`: further package indexes, asked in order for aliases the curator's
    /// index does not have.
    pub layers: Vec<String>,
    /// `[index.overrides]`: alias → the version index to take it from, whatever the curators say.
    pub overrides: BTreeMap<Alias, String>,
    /// Dependencies on a local package under development: alias → its directory (as written,
    /// relative to this manifest's), and whether a `version` was given too.
    pub paths: BTreeMap<Alias, (PathBuf, bool)>,
    /// Alias → dependency.
    pub dependencies: BTreeMap<Alias, Dependency>,
}

/// The line (1-based) of a byte offset in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

impl Project {
    /// Reads and checks `dir/cairn.toml`.
    ///
    /// # Errors
    /// When the file cannot be read or breaks a rule.
    pub fn load(dir: &Path) -> Result<Project, ManifestError> {
        let path = dir.join(MANIFEST);
        Project::parse(&read_text(&path)?, &path)
    }

    /// Parses and checks manifest text (`path` is for messages).
    ///
    /// # Errors
    /// When the text breaks a rule; the error names the field, its line and the fix.
    pub fn parse(text: &str, path: &Path) -> Result<Project, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_owned(),
        })?;
        let field = |field: &str, at: usize, reason: String| ManifestError::At {
            path: path.to_path_buf(),
            line: line_of(text, at),
            field: field.to_owned(),
            reason,
        };
        let mut dependencies = BTreeMap::new();
        let mut paths = BTreeMap::new();
        for (alias, dep) in raw.dependencies {
            let at = dep.span().start;
            let name = format!("dependencies.{alias}");
            let a: Alias = alias
                .parse()
                .map_err(|e| field(&name, at, format!("is not a valid alias: {e}")))?;
            let (text, private) = match dep.into_inner() {
                RawDependency::Constraint(c) => (c, false),
                RawDependency::Table {
                    version,
                    private,
                    path,
                } => {
                    if let Some(p) = path {
                        if p.trim().is_empty() {
                            return Err(field(&name, at, "has an empty `path`".to_owned()));
                        }
                        paths.insert(a.clone(), (PathBuf::from(p), version.is_some()));
                    }
                    (version.unwrap_or_else(|| "*".to_owned()), private)
                }
            };
            let constraint: Constraint = text
                .parse()
                .map_err(|e| field(&name, at, format!("`{text}`: {e}")))?;
            dependencies.insert(
                a,
                Dependency {
                    constraint,
                    private,
                },
            );
        }
        let (mut curator, mut layers, mut overrides) = (None, Vec::new(), BTreeMap::new());
        if let Some(i) = raw.index {
            let index_name = |name: &str, v: toml::Spanned<String>| {
                let at = v.span().start;
                let text = v.into_inner();
                if text
                    .split_once(':')
                    .is_none_or(|(who, n)| who.trim().is_empty() || n.trim().is_empty())
                {
                    return Err(field(
                        name,
                        at,
                        format!("`{text}` is not an index; write it as `IDENTITY:NAME`"),
                    ));
                }
                Ok(text)
            };
            curator = Some(index_name("index.curator", i.curator)?);
            for l in i.layers {
                layers.push(index_name("index.layers", l)?);
            }
            for (alias, target) in i.overrides {
                let name = format!("index.overrides.{alias}");
                let at = target.span().start;
                let a: Alias = alias
                    .parse()
                    .map_err(|e| field(&name, at, format!("is not a valid alias: {e}")))?;
                overrides.insert(a, index_name(&name, target)?);
            }
        }
        let package = match raw.package {
            None => None,
            Some(p) => Some(Manifest::check(p, dependencies.clone(), path)?),
        };
        Ok(Project {
            package,
            curator,
            layers,
            overrides,
            paths,
            dependencies,
        })
    }
}

fn read_text(path: &Path) -> Result<String, ManifestError> {
    let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        cause: source,
    })?;
    String::from_utf8(bytes).map_err(|e| ManifestError::Syntax {
        path: path.to_path_buf(),
        message: format!(
            "it is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// A checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The package name.
    pub name: Name,
    /// The version to publish.
    pub version: Version,
    /// Optional metadata, checked against the release record's rules.
    pub description: Option<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// Homepage URL.
    pub homepage: Option<String>,
    /// Repository URL.
    pub repository: Option<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Authors.
    pub authors: Vec<String>,
    /// Globs (relative to the package directory) of files to pack; empty means everything.
    pub include: Vec<glob::Pattern>,
    /// Globs of files to leave out (always: `.git`, `.cairn`, `target`).
    pub exclude: Vec<glob::Pattern>,
    /// Platform → file shipped as that platform's artifact.
    pub assets: BTreeMap<String, PathBuf>,
    /// Alias → dependency.
    pub dependencies: BTreeMap<Alias, Dependency>,
}

impl Manifest {
    /// Reads and checks `dir/cairn.toml`, which must have a `[package]` table.
    ///
    /// # Errors
    /// When the file cannot be read, breaks a rule, or describes no package.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST);
        Manifest::parse(&read_text(&path)?, &path)
    }

    /// Parses and checks manifest text (`path` is for messages).
    ///
    /// # Errors
    /// When the text breaks a rule or has no `[package]` table.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let project = Project::parse(text, path)?;
        // A published release names its dependencies by version; a path alone is known only
        // on this machine.
        if let Some((alias, _)) = project.paths.iter().find(|(_, (_, versioned))| !versioned) {
            return Err(ManifestError::Field {
                path: path.to_path_buf(),
                field: format!("dependencies.{alias}"),
                reason: "has a `path` and no `version`: a published release needs a version for it (for example `{ path = \"../libfoo\", version = \"^1.0\" }`)".to_owned(),
            });
        }
        project
            .package
            .ok_or_else(|| ManifestError::Field {
                path: path.to_path_buf(),
                field: "package".to_owned(),
                reason: "is missing: this project describes no package to publish\n\nhint: add a `[package]` table with `name` and `version` (`cairn init --name NAME` writes one)".to_owned(),
            })
    }

    fn check(
        p: RawPackage,
        dependencies: BTreeMap<Alias, Dependency>,
        path: &Path,
    ) -> Result<Manifest, ManifestError> {
        let field = |field: &str, reason: String| ManifestError::Field {
            path: path.to_path_buf(),
            field: field.to_owned(),
            reason,
        };
        let name: Name = p
            .name
            .parse()
            .map_err(|e| field("package.name", format!("is invalid: {e}")))?;
        let version: Version = p
            .version
            .parse()
            .map_err(|e| field("package.version", format!("is invalid: {e}")))?;
        check_limits(&p, path)?;
        if let Some(l) = &p.license
            && !is_spdx_expression(l)
        {
            return Err(field(
                "package.license",
                format!(
                    "`{l}` is not an SPDX license expression (for example `MIT OR Apache-2.0`)"
                ),
            ));
        }
        let globs = |list: &[String], name: &str| -> Result<Vec<glob::Pattern>, ManifestError> {
            list.iter()
                .map(|g| {
                    glob::Pattern::new(g)
                        .map_err(|e| field(name, format!("has an invalid glob `{g}`: {e}")))
                })
                .collect()
        };
        let include = globs(&p.include, "package.include")?;
        let exclude = globs(&p.exclude, "package.exclude")?;
        let mut assets = BTreeMap::new();
        for (platform, file) in p.assets {
            if platform == "default" || !is_platform(&platform) {
                return Err(field(
                    "package.assets",
                    format!(
                        "platform `{platform}` must be `<os>-<arch>` in lower case, such as `linux-x86_64`"
                    ),
                ));
            }
            assets.insert(platform, PathBuf::from(file));
        }
        Ok(Manifest {
            name,
            version,
            description: p.description,
            license: p.license,
            homepage: p.homepage,
            repository: p.repository,
            keywords: p.keywords,
            authors: p.authors,
            include,
            exclude,
            assets,
            dependencies,
        })
    }
}

/// The release record's limits on metadata, checked on the manifest so that the message names
/// the field rather than the record that would outgrow its size limit.
fn check_limits(p: &RawPackage, path: &Path) -> Result<(), ManifestError> {
    use cairn_protocol::release as limits;
    let field = |field: &str, reason: String| ManifestError::Field {
        path: path.to_path_buf(),
        field: field.to_owned(),
        reason,
    };
    let long = |name: &str, value: &str, max: usize| -> Result<(), ManifestError> {
        if value.len() > max {
            return Err(field(
                name,
                format!("is {} bytes long; the limit is {max}", value.len()),
            ));
        }
        Ok(())
    };
    for (name, value, max) in [
        (
            "package.description",
            &p.description,
            limits::MAX_DESCRIPTION,
        ),
        ("package.license", &p.license, limits::MAX_LICENSE),
        ("package.homepage", &p.homepage, limits::MAX_URL),
        ("package.repository", &p.repository, limits::MAX_URL),
    ] {
        if let Some(v) = value {
            long(name, v, max)?;
        }
    }
    for (name, list, count, max) in [
        (
            "package.keywords",
            &p.keywords,
            limits::MAX_KEYWORDS,
            limits::MAX_KEYWORD,
        ),
        (
            "package.authors",
            &p.authors,
            limits::MAX_AUTHORS,
            limits::MAX_AUTHOR,
        ),
    ] {
        if list.len() > count {
            return Err(field(
                name,
                format!("has {} entries; the limit is {count}", list.len()),
            ));
        }
        for v in list {
            long(name, v, max)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(t, Path::new("cairn.toml"))
    }

    #[test]
    fn parses_a_full_manifest() {
        let m = parse(
            r#"
[package]
name = "libfoo"
version = "1.2.0"
license = "MIT OR Apache-2.0"
keywords = ["parsing"]
exclude = ["*.log"]
assets = { linux-x86_64 = "dist/libfoo.so" }

[dependencies]
libbar = "^2.0"
zlib = { version = ">= 1.2 < 2", private = true }
"#,
        )
        .expect("valid");
        assert_eq!(m.name.as_str(), "libfoo");
        assert_eq!(m.dependencies.len(), 2);
        assert!(m.dependencies[&"zlib".parse::<Alias>().expect("a")].private);
        assert_eq!(
            m.dependencies[&"zlib".parse::<Alias>().expect("a")]
                .constraint
                .to_string(),
            ">=1.2 <2"
        );
        assert_eq!(m.assets["linux-x86_64"], PathBuf::from("dist/libfoo.so"));
    }

    #[test]
    fn a_manifest_that_is_not_utf8_says_so() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join(MANIFEST), b"[package]\nname = \"\xff\"\n").expect("write");
        let e = Manifest::load(tmp.path())
            .expect_err("not UTF-8")
            .to_string();
        assert!(e.contains("not UTF-8") && e.contains("offset 18"), "{e}");
        assert!(
            !e.contains("package directory"),
            "no hint to change directory: {e}"
        );
    }

    #[test]
    fn refusals_name_the_field_and_the_fix() {
        let cases = [
            (
                "[package]\nname = \"a.b\"\nversion = \"1\"\n",
                "package.name",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1.0+x\"\n",
                "package.version",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\nlicense = \"MIT/Apache\"\n",
                "SPDX",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\n[dependencies]\nb = \"~1.2\"\n",
                "dependencies.b",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\nhomepage = 3\n",
                "not a valid manifest",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\ncolour = \"red\"\n",
                "colour",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\nassets = { Linux = \"x\" }\n",
                "linux-x86_64",
            ),
            ("[package]\nname = \"a\"\n", "version"),
            (
                &format!(
                    "[package]\nname = \"a\"\nversion = \"1\"\ndescription = \"{}\"\n",
                    "x".repeat(2 << 20)
                ),
                "`package.description` is 2097152 bytes long; the limit is 1024",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\n[dependencies]\nzlib = { version = \">=1.2 <2\", privat = true }\n",
                "unknown field `privat`, expected one of `version`, `private`, `path`",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\n[dependencies]\nzlib = { private = true }\n",
                "missing field `version`",
            ),
            (
                "[package]\nname = \"a\"\nversion = \"1\"\n[dependencies]\nzlib = 3\n",
                "a constraint such as",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}

#[cfg(test)]
mod project_tests {
    use super::*;

    fn parse(t: &str) -> Result<Project, ManifestError> {
        Project::parse(t, Path::new("cairn.toml"))
    }

    #[test]
    fn a_consumer_manifest_needs_no_package() {
        let p =
            parse("[index]\ncurator = \"bxyz:community\"\n\n[dependencies]\nlibfoo = \"^1.2\"\n")
                .expect("valid");
        assert!(p.package.is_none());
        assert_eq!(p.curator.as_deref(), Some("bxyz:community"));
        assert_eq!(p.dependencies.len(), 1);
        let e = Manifest::parse("[dependencies]\n", Path::new("cairn.toml"))
            .expect_err("no package to publish")
            .to_string();
        assert!(
            e.contains("`package` is missing") && e.contains("cairn init"),
            "{e}"
        );
    }

    #[test]
    fn a_path_dependency_needs_a_version_to_be_published() {
        let text = "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { path = \"../b\" }\n";
        let p = parse(text).expect("a project may use it");
        assert_eq!(p.paths.len(), 1);
        assert_eq!(
            p.dependencies
                .values()
                .next()
                .expect("dep")
                .constraint
                .to_string(),
            "*"
        );
        let e = Manifest::parse(text, Path::new("cairn.toml"))
            .expect_err("not publishable")
            .to_string();
        assert!(
            e.contains("dependencies.b") && e.contains("needs a version"),
            "{e}"
        );
        let versioned = text.replace("path = \"../b\"", "path = \"../b\", version = \"^1.0\"");
        assert!(Manifest::parse(&versioned, Path::new("cairn.toml")).is_ok());
    }

    #[test]
    fn refusals_name_the_line() {
        for (text, want) in [
            ("[index]\ncurator = \"x:y\"\nlayers = 3\n", "line 3"),
            (
                "[dependencies]\na = \"^1\"\n\nlibfoo = \"~~1\"\n",
                "line 4: `dependencies.libfoo`",
            ),
            (
                "[dependencies]\n\"a.b\" = \"^1\"\n",
                "line 2: `dependencies.a.b` is not a valid alias",
            ),
            (
                "[index]\ncurator = \" \"\n",
                "line 2: `index.curator` ` ` is not an index",
            ),
            (
                "[index]\ncurator = \"a:b\"\nlayers = [\"nope\"]\n",
                "line 3: `index.layers` `nope` is not an index",
            ),
            (
                "[index]\ncurator = \"a:b\"\n[index.overrides]\n\"x.y\" = \"a:b\"\n",
                "line 4: `index.overrides.x.y` is not a valid alias",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
