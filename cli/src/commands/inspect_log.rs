//! `cairn verify` and `cairn log`.

use std::path::Path;
use std::process::ExitCode;

use cairn_core::inspect::{self, Verdict};
use cairn_protocol::cid::Cid;

use crate::settings;

pub(crate) fn verify(home: Option<&Path>, given: &str) -> anyhow::Result<ExitCode> {
    let home = settings::open_existing_home(home)?;
    if let Ok(cid) = given.parse::<Cid>() {
        return match inspect::verify_cid(&home, &cid)? {
            Some(v) => Ok(verdict(v)),
            None => anyhow::bail!(
                "`{cid}` is not held in this home (not a revision, record block or artifact)\n\nhint: import the CAR that holds it"
            ),
        };
    }
    let log = settings::log_name(&home, given)?;
    Ok(verdict(inspect::verify_log(&home, &log)))
}

/// Prints `ok: …` or `FAILED: …` and gives the exit code.
fn verdict(v: Verdict) -> ExitCode {
    match v {
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
    let home = settings::open_existing_home(home)?;
    let log = settings::log_name(&home, given)?;
    let rows = inspect::log(&home, &log)?;
    if as_json {
        outln!("{}", serde_json::to_string(&rows)?);
    } else {
        for r in &rows {
            let signer = r
                .signer
                .parse()
                .map_or_else(|_| Ok(r.signer.clone()), |id| home.label(&id))?;
            outln!(
                "{}  {}  by {}  {}",
                r.seq,
                r.payload,
                signer,
                r.ops.join("; ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
