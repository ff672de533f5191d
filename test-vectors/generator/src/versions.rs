//! `version/` and `constraint/`: parse, compare, priority, membership, canonical printing.

use std::cmp::Ordering;

use anyhow::{Context as _, bail};
use cairn_protocol::version::{Constraint, Version};
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, file, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "version/parse.json",
            generate: version_parse,
            check: check_version_parse,
        },
        VectorFile {
            path: "version/compare.json",
            generate: version_compare,
            check: check_version_compare,
        },
        VectorFile {
            path: "constraint/parse.json",
            generate: constraint_parse,
            check: check_constraint_parse,
        },
        VectorFile {
            path: "constraint/match.json",
            generate: constraint_match,
            check: check_constraint_match,
        },
    ]
}

const VERSIONS: &[&str] = &[
    "0",
    "0.0.0.1",
    "0.0.3",
    "0.0.3.1",
    "0.0.4",
    "0.1",
    "0.1.0-rc",
    "0.1.5",
    "0.2",
    "1.0.0-0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1",
    "1.0",
    "1.0.0.0",
    "1.0.0.1",
    "1.1.0",
    "1.2-beta",
    "1.2.0.0-beta",
    "1.2-beta.0.0",
    "1.2",
    "1.2.3",
    "1.9",
    "2.0.0-alpha",
    "2.0-rc.1",
    "2",
    "2.0.1",
    "10",
    "18446744073709551615",
];

const BAD_VERSIONS: &[&str] = &[
    "",
    "1.0+build",
    "01",
    "1.00",
    "1.0-01",
    "18446744073709551616",
    "1..2",
    "1.",
    "1-",
    "1-a..b",
    "v1",
    "1.x",
    " 1",
    "1.0-a_b",
    "1.0-é",
    // 65 characters, 130 bytes: the limit counts bytes.
    "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
];

fn ord_text(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

fn version_parse() -> anyhow::Result<Json> {
    let mut vectors = Vec::new();
    for s in VERSIONS {
        let v: Version = s.parse()?;
        vectors.push(json!({
            "name": s, "input": s, "display": v.to_string(),
            "base": v.base().iter().map(u64::to_string).collect::<Vec<_>>(),
            "prerelease": v.is_prerelease(),
        }));
    }
    let long = format!("1.{}", "1".repeat(127));
    for s in BAD_VERSIONS.iter().map(|s| (*s).to_owned()).chain([long]) {
        let e = s
            .parse::<Version>()
            .err()
            .with_context(|| format!("`{s}` must be refused"))?;
        vectors.push(json!({ "name": s, "input": s, "error": e.code() }));
    }
    Ok(file(
        "Version parsing: valid inputs print as written (`display`), with `base` the numeric fields without trailing zeros; invalid inputs fail with `error`.",
        "spec/04-versions.md#versions",
        vectors,
    ))
}

fn check_version_parse(v: &Json) -> anyhow::Result<()> {
    let input = text(v, "input")?;
    match (input.parse::<Version>(), v.get("error")) {
        (Ok(parsed), None) => {
            expect_eq(v, "display", &parsed.to_string())?;
            let base: Vec<String> = parsed.base().iter().map(u64::to_string).collect();
            if v["base"] != json!(base) || v["prerelease"] != json!(parsed.is_prerelease()) {
                bail!(
                    "base or prerelease flag disagree: implementation gives {base:?}, {}",
                    parsed.is_prerelease()
                );
            }
            Ok(())
        }
        (Ok(_), Some(_)) => bail!("parses, but the vector expects an error"),
        (Err(e), Some(_)) => expect_eq(v, "error", e.code()),
        (Err(e), None) => bail!("must parse, fails with {e}"),
    }
}

fn version_compare() -> anyhow::Result<Json> {
    let mut vectors = Vec::new();
    for a in VERSIONS {
        for b in VERSIONS {
            let (va, vb): (Version, Version) = (a.parse()?, b.parse()?);
            vectors.push(json!({
                "name": format!("{a} ? {b}"), "a": a, "b": b,
                "cmp": ord_text(va.cmp(&vb)), "priority": ord_text(va.priority_cmp(&vb)),
            }));
        }
    }
    Ok(file(
        "Version order (`cmp`, semver order with trailing zeros ignored) and choice priority (`priority`: any release beats any pre-release, then higher wins), for every pair.",
        "spec/04-versions.md#order",
        vectors,
    ))
}

fn check_version_compare(v: &Json) -> anyhow::Result<()> {
    let a: Version = text(v, "a")?.parse()?;
    let b: Version = text(v, "b")?.parse()?;
    expect_eq(v, "cmp", ord_text(a.cmp(&b)))?;
    expect_eq(v, "priority", ord_text(a.priority_cmp(&b)))
}

const CONSTRAINTS: &[&str] = &[
    "*",
    "1.2",
    "1.2.0.0",
    ">=1.2",
    ">= 1.2",
    "<2",
    "< 2.0",
    ">=1 <2",
    ">= 1.0  < 2.0",
    ">=2.0-alpha <2.0",
    "<2.0-rc.1",
    "^1.2.3",
    "^ 1",
    "^0.1",
    "^0.0.3",
    "^1.0.0-alpha",
    ">=0.0.4 <0.1",
];

const BAD_CONSTRAINTS: &[&str] = &[
    "",
    " 1",
    "1 ",
    "~1.2",
    ">1.2",
    "<=1.2",
    "=1.2",
    ">=1.0, <2.0",
    "1 || 2",
    "^0",
    "^0.0",
    "^0.0-rc",
    ">=2 <1",
    ">=1 <1.0",
    ">=1<2",
    ">=1 2",
    "latest",
    "^01",
    "1.0+b",
    "^1.0 2",
    ">=1.0 <2 3",
];

fn constraint_parse() -> anyhow::Result<Json> {
    let mut vectors = Vec::new();
    for s in CONSTRAINTS {
        let c: Constraint = s.parse()?;
        vectors.push(json!({ "name": s, "input": s, "canonical": c.to_string() }));
    }
    for s in BAD_CONSTRAINTS {
        let e = s
            .parse::<Constraint>()
            .err()
            .with_context(|| format!("`{s}` must be refused"))?;
        vectors.push(json!({ "name": s, "input": s, "error": e.code() }));
    }
    Ok(file(
        "Constraint parsing: valid inputs print as `canonical` (which re-parses to the same constraint); invalid inputs fail with `error`.",
        "spec/04-versions.md#constraints",
        vectors,
    ))
}

fn check_constraint_parse(v: &Json) -> anyhow::Result<()> {
    let input = text(v, "input")?;
    match (input.parse::<Constraint>(), v.get("error")) {
        (Ok(c), None) => {
            expect_eq(v, "canonical", &c.to_string())?;
            let again: Constraint = c.to_string().parse()?;
            if again != c {
                bail!("canonical form does not re-parse to the same constraint");
            }
            Ok(())
        }
        (Ok(_), Some(_)) => bail!("parses, but the vector expects an error"),
        (Err(e), Some(_)) => expect_eq(v, "error", e.code()),
        (Err(e), None) => bail!("must parse, fails with {e}"),
    }
}

fn constraint_match() -> anyhow::Result<Json> {
    let mut vectors = Vec::new();
    for c in CONSTRAINTS {
        let parsed: Constraint = c.parse()?;
        for v in VERSIONS {
            let matches = parsed.matches(&v.parse()?);
            vectors.push(json!({ "name": format!("{c} ∋ {v}"), "constraint": c, "version": v, "matches": matches }));
        }
    }
    Ok(file(
        "Constraint membership (pure set membership: pre-releases inside a range match) for every pair.",
        "spec/04-versions.md#membership",
        vectors,
    ))
}

fn check_constraint_match(v: &Json) -> anyhow::Result<()> {
    let c: Constraint = text(v, "constraint")?.parse()?;
    let version: Version = text(v, "version")?.parse()?;
    let expected = v["matches"]
        .as_bool()
        .context("missing boolean `matches`")?;
    if c.matches(&version) != expected {
        bail!(
            "`matches`: the vector says {expected}, the implementation gives {}",
            !expected
        );
    }
    Ok(())
}
