//! `lockfile/lockfiles.json`: lockfile texts, what they mean, and the refusals.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use cairn_core::lockfile::{
    Head, LockedLocal, LockedPackage, Lockfile, PortableAlias, PortableVersion,
};
use cairn_core::resolve::{Candidate, Dependency};
use cairn_protocol::cid::Cid;
use cairn_protocol::release::Artifact;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "lockfile/lockfiles.json",
        generate,
        check,
    }]
}

const OWNER: &str = "bp7ki3gcp3jn7nq2avi6vodm4ow77vthupiz6davgygsxrqsb42sa";

fn head(name: &str, seq: u64) -> Head {
    Head {
        index: format!("{OWNER}:{name}"),
        seq,
        head: Cid::of_record(format!("{name} {seq}").as_bytes()),
    }
}

fn artifact(what: &str) -> Artifact {
    let bytes = what.as_bytes();
    Artifact {
        cid: Cid::of_raw(bytes),
        size: bytes.len() as u64,
        sha256: {
            use sha2::Digest as _;
            sha2::Sha256::digest(bytes).into()
        },
    }
}

fn dep(alias: &str, constraint: &str, private: bool) -> anyhow::Result<Dependency> {
    Ok(Dependency {
        alias: Arc::from(alias),
        constraint: constraint.parse()?,
        private,
    })
}

fn version(v: &str, deps: Vec<Dependency>, flags: [bool; 3]) -> anyhow::Result<PortableVersion> {
    Ok(PortableVersion {
        candidate: Candidate {
            version: v.parse()?,
            yanked: flags[0],
            deprecated: flags[1],
            advisory: flags[2],
        },
        release: Cid::of_record(v.as_bytes()),
        dependencies: deps,
    })
}

/// A lockfile with every feature: a private scope, several platforms, a pre-release, status
/// flags, private dependencies.
fn rich() -> anyhow::Result<Lockfile> {
    let package = |scope: &[&str],
                   alias: &str,
                   v: &str,
                   platforms: &[&str]|
     -> anyhow::Result<LockedPackage> {
        Ok(LockedPackage {
            scope: scope.iter().map(|s| (*s).to_owned()).collect(),
            alias: alias.to_owned(),
            version: v.parse()?,
            from: head(alias, 3),
            release: Cid::of_record(v.as_bytes()),
            artifacts: platforms
                .iter()
                .map(|p| ((*p).to_owned(), artifact(&format!("{alias} {v} {p}"))))
                .collect::<BTreeMap<_, _>>(),
        })
    };
    Ok(Lockfile {
        curator: head("community", 7),
        layers: vec![format!("{OWNER}:extra")],
        overrides: [("libbaz".to_owned(), format!("{OWNER}:libbaz-fork"))].into(),
        packages: vec![
            package(
                &[],
                "libbar",
                "2.1.0",
                &["default", "linux-x86_64", "macos-aarch64"],
            )?,
            package(&[], "libfoo", "1.0.0", &["default"])?,
            package(&["libbar"], "zlib", "1.3.0-rc.1", &["default"])?,
        ],
        locals: vec![LockedLocal {
            scope: Vec::new(),
            alias: "mytool".into(),
            version: "0.1.0".parse()?,
            path: "../mytool".into(),
            dependencies: vec![dep("libbar", "^2.0", false)?],
        }],
        portable: vec![
            PortableAlias {
                alias: "libbar".into(),
                from: head("libbar", 3),
                versions: vec![
                    version(
                        "2.1.0",
                        vec![
                            dep("zlib", ">=1.2 <2", true)?,
                            dep("libbaz", "^0.3", false)?,
                        ],
                        [false; 3],
                    )?,
                    version("2.0.0", Vec::new(), [true, false, false])?,
                ],
            },
            PortableAlias {
                alias: "libbaz".into(),
                from: head("libbaz", 1),
                versions: vec![version("0.3.1", Vec::new(), [false, true, true])?],
            },
            PortableAlias {
                alias: "libfoo".into(),
                from: head("libfoo", 3),
                versions: vec![version(
                    "1.0.0",
                    vec![dep("libbar", "^2.0", false)?],
                    [false; 3],
                )?],
            },
            PortableAlias {
                alias: "zlib".into(),
                from: head("zlib", 3),
                versions: vec![version("1.3.0-rc.1", Vec::new(), [false; 3])?],
            },
        ],
    })
}

/// Dependencies in alias order (their order in the text means nothing).
fn dependencies(deps: &[Dependency]) -> Json {
    let mut deps: Vec<&Dependency> = deps.iter().collect();
    deps.sort_by(|a, b| a.alias.cmp(&b.alias));
    Json::Array(
        deps.iter()
            .map(|d| json!({ "alias": d.alias.as_ref(), "constraint": d.constraint.to_string(), "private": d.private }))
            .collect(),
    )
}

/// What a lockfile means, as typed JSON.
fn model(l: &Lockfile) -> Json {
    let head = |h: &Head| json!({ "index": h.index, "seq": h.seq, "head": h.head.to_string() });
    json!({
        "curator": head(&l.curator),
        "layers": l.layers,
        "overrides": l.overrides,
        "packages": l.packages.iter().map(|p| json!({
            "scope": p.scope,
            "alias": p.alias,
            "version": p.version.to_string(),
            "from": head(&p.from),
            "release": p.release.to_string(),
            "artifacts": p.artifacts.iter().map(|(k, a)| (k.clone(), json!({
                "cid": a.cid.to_string(), "size": a.size, "sha256": hex::encode(a.sha256),
            }))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "locals": l.locals.iter().map(|x| json!({
            "scope": x.scope,
            "alias": x.alias,
            "version": x.version.to_string(),
            "path": x.path,
            "dependencies": dependencies(&x.dependencies),
        })).collect::<Vec<_>>(),
        "portable": l.portable.iter().map(|a| json!({
            "alias": a.alias,
            "from": head(&a.from),
            "versions": a.versions.iter().map(|v| json!({
                "version": v.candidate.version.to_string(),
                "release": v.release.to_string(),
                "dependencies": dependencies(&v.dependencies),
                "yanked": v.candidate.yanked,
                "deprecated": v.candidate.deprecated,
                "advisory": v.candidate.advisory,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn valid(name: &str, lock: &Lockfile) -> Json {
    let text = lock.to_text();
    json!({
        "name": name,
        "text": text,
        "input_cid": Cid::of_raw(text.as_bytes()).to_string(),
        "model": model(lock),
    })
}

fn generate() -> anyhow::Result<Json> {
    let lock = rich()?;
    let text = lock.to_text();
    let mut vectors = vec![
        valid(
            "every feature: a private scope, three platforms, a pre-release, status flags, a private dependency",
            &lock,
        ),
        valid(
            "nothing locked",
            &Lockfile {
                curator: head("community", 1),
                layers: Vec::new(),
                overrides: BTreeMap::new(),
                locals: Vec::new(),
                packages: Vec::new(),
                portable: Vec::new(),
            },
        ),
    ];
    let sha = hex::encode(artifact("libfoo 1.0.0 default").sha256);
    let first_package = text.find("[[package]]").unwrap_or(0);
    let second_package = text[first_package + 1..]
        .find("[[package]]")
        .map_or(0, |i| i + first_package + 1);
    let swapped = format!(
        "{}{}{}",
        &text[..first_package],
        &text[second_package..text.find("[[package]]\nalias = \"zlib\"").unwrap_or(0)],
        &text[first_package..second_package]
    ) + &text[text.find("[[package]]\nalias = \"zlib\"").unwrap_or(0)..];
    // Each refusal is the valid text with one thing changed.
    let edits: [(&str, &str, &str, &str); 12] = [
        (
            "a newer format version",
            "version = 1\n",
            "version = 2\n",
            "lock-version",
        ),
        (
            "an unknown key",
            "seq = 7\n",
            "seq = 7\ncolour = \"red\"\n",
            "lock-syntax",
        ),
        (
            "a size of the wrong type",
            ", size = ",
            ", size = -",
            "lock-syntax",
        ),
        (
            "a CID that is not one",
            "release = \"b",
            "release = \"x",
            "lock-value",
        ),
        ("a SHA-256 of 63 digits", &sha, &sha[1..], "lock-value"),
        (
            "an alias that breaks the name rule",
            "alias = \"libfoo\"",
            "alias = \"lib.foo\"",
            "lock-value",
        ),
        (
            "a platform that is not one",
            "artifacts.linux-x86_64",
            "artifacts.Linux",
            "lock-value",
        ),
        (
            "a constraint that is not one",
            "libbaz = \"^0.3\"",
            "libbaz = \"~~0.3\"",
            "lock-value",
        ),
        (
            "a local package with no path",
            "path = \"../mytool\"",
            "path = \"\"",
            "lock-value",
        ),
        (
            "a layer that is not an index",
            ":extra\"]",
            "\"]",
            "lock-value",
        ),
        (
            "an override of a name that is not an alias",
            "overrides = { libbaz",
            "overrides = { \"lib.baz\"",
            "lock-value",
        ),
        (
            "a private alias that is not a dependency",
            "private = [\"zlib\"]",
            "private = [\"zlibx\"]",
            "lock-value",
        ),
    ];
    let mut cases: Vec<(&str, String, &str)> = edits
        .iter()
        .map(|(name, from, to, code)| (*name, text.replacen(from, to, 1), *code))
        .collect();
    cases.push(("not TOML", format!("{text}[[package\n"), "lock-syntax"));
    cases.push(("packages out of order", swapped, "lock-order"));
    cases.push((
        "versions out of order",
        {
            let a = text.find("  { version = \"2.1.0\"").unwrap_or(0);
            let b = text.find("  { version = \"2.0.0\"").unwrap_or(0);
            let c = b + text[b..].find('\n').unwrap_or(0) + 1;
            format!("{}{}{}{}", &text[..a], &text[b..c], &text[a..b], &text[c..])
        },
        "lock-order",
    ));
    for (name, input, code) in cases {
        if input == text {
            bail!("the case `{name}` changed nothing");
        }
        vectors.push(json!({
            "name": name,
            "text": input,
            "input_cid": Cid::of_raw(input.as_bytes()).to_string(),
            "error": code,
        }));
    }
    Ok(file(
        "Lockfiles: `text` parses to `model` and is written back byte for byte, or is refused with `error`.",
        "spec/13-lockfile.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let input = text(v, "text")?;
    expect_input_cid(v, input.as_bytes())?;
    match (
        Lockfile::parse_coded(input),
        v.get("error").and_then(Json::as_str),
    ) {
        (Ok(lock), None) => {
            if model(&lock) != v["model"] {
                bail!("means {}, the vector says {}", model(&lock), v["model"]);
            }
            if lock.to_text() != input {
                bail!("is written back differently");
            }
            Ok(())
        }
        (Ok(_), Some(code)) => bail!("parses, but must be refused with `{code}`"),
        (Err((code, _)), Some(_)) => expect_eq(v, "error", code),
        (Err((code, message)), None) => bail!("refused with `{code}`: {message}"),
    }
}
