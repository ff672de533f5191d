//! `cairn verify` and `cairn log`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::home::Home;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityRevision;
use cairn_protocol::index::Revision;
use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::signed::Signed;
use serde_json::json;

use crate::settings;

/// A log named by an index (`NAME`, `IDENTITY:NAME`) or an identity (petname or ID).
fn log_name(home: &Home, given: &str) -> anyhow::Result<String> {
    let mine = home.resolve(None).ok().map(|me| format!("{me}:{given}"));
    if given.contains(':')
        || mine
            .as_deref()
            .is_some_and(|m| home.store.head_kind(m).ok().flatten().is_some())
    {
        return Ok(settings::index_name(home, given, None)?.to_string());
    }
    Ok(home.resolve(Some(given))?.to_string())
}

pub(crate) fn verify(home: Option<&Path>, given: &str) -> anyhow::Result<ExitCode> {
    let home = settings::open_home(home)?;
    if let Ok(cid) = given.parse::<Cid>() {
        return verify_cid(&home, &cid);
    }
    let log = log_name(&home, given)?;
    Ok(verdict(home.store.verify_log(&log).map(|seq| {
        format!("`{log}` re-verified from genesis up to revision {seq}")
    })))
}

/// `cairn verify CID`: a revision re-verifies its whole log; a record block or an artifact is
/// re-hashed against its CID.
fn verify_cid(home: &Home, cid: &Cid) -> anyhow::Result<ExitCode> {
    if let Some((log, seq)) = home.store.revision_by_payload(cid)? {
        return Ok(verdict(home.store.verify_log(&log).map(|head| {
            format!("revision {seq} of `{log}` re-verified, with its log from genesis up to revision {head}")
        })));
    }
    if let Some(bytes) = home.store.block(cid)? {
        return Ok(verdict(cairn_core::block::verify_block(*cid, &bytes).map(
            |_| format!("record block {cid} matches its CID ({} bytes)", bytes.len()),
        )));
    }
    if home.store.has_artifact(cid)? {
        let path = home.dir().join("artifacts").join(cid.to_string());
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        return Ok(verdict(if cid.matches(&bytes) {
            Ok(format!(
                "artifact {cid} matches its CID ({} bytes)",
                bytes.len()
            ))
        } else {
            Err(format!(
                "artifact `{}` does not match its CID {cid}",
                path.display()
            ))
        }));
    }
    anyhow::bail!(
        "`{cid}` is not held in this home (not a revision, record block or artifact)\n\nhint: import the CAR that holds it"
    )
}

/// Prints `ok: …` or `FAILED: …` and gives the exit code.
fn verdict<E: std::fmt::Display>(r: Result<String, E>) -> ExitCode {
    match r {
        Ok(what) => {
            outln!("ok: {what}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            outln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn log(home: Option<&Path>, given: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let home = settings::open_home(home)?;
    let log = log_name(&home, given)?;
    let kind = home
        .store
        .head_kind(&log)?
        .with_context(|| format!("`{log}` is not in this home"))?;
    let mut rows = Vec::new();
    for env in home.store.envelopes(&log)? {
        let row = match kind.as_str() {
            "identity" => {
                let s = Signed::<IdentityRevision>::decode(&env)?;
                let p = s.payload();
                json!({ "seq": p.seq, "payload": s.payload_cid().to_string(), "time": p.time, "signer": log, "ops": p.ops.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>() })
            }
            "version-index" => {
                let s = Signed::<Revision<VersionIndex>>::decode(&env)?;
                let p = s.payload();
                json!({ "seq": p.seq, "payload": s.payload_cid().to_string(), "time": p.time, "signer": p.signer.identity.to_string(), "ops": p.ops.iter().map(|o| format!("{} {}", o.name(), op_subject(o))).collect::<Vec<_>>() })
            }
            _ => {
                let s = Signed::<Revision<PackageIndex>>::decode(&env)?;
                let p = s.payload();
                json!({ "seq": p.seq, "payload": s.payload_cid().to_string(), "time": p.time, "signer": p.signer.identity.to_string(), "ops": p.ops.iter().map(|o| o.name().to_owned()).collect::<Vec<_>>() })
            }
        };
        rows.push(row);
    }
    if as_json {
        outln!("{}", serde_json::Value::Array(rows));
    } else {
        for r in &rows {
            let signer = r["signer"].as_str().unwrap_or("");
            let signer = signer
                .parse()
                .map_or_else(|_| Ok(signer.to_owned()), |id| home.label(&id))?;
            let ops: Vec<&str> = r["ops"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            outln!(
                "{:>5}  {}  by {}  {}",
                r["seq"],
                r["payload"].as_str().unwrap_or(""),
                signer,
                ops.join("; ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn op_subject(op: &cairn_protocol::index::version::VersionOp) -> String {
    use cairn_protocol::index::version::VersionOp as V;
    match op {
        V::Release { version, .. }
        | V::Yank { version, .. }
        | V::Unyank { version }
        | V::Deprecate { version, .. }
        | V::Advisory { version, .. } => version.to_string(),
        V::Grant { identity, .. } | V::Revoke { identity } => identity.to_string(),
    }
}
