use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_protocol::cid::Cid;
use cairn_protocol::profile;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A record block (dag-cbor).
    file: PathBuf,
    /// Print one JSON object `{cid, size, value}` for scripts.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file).with_context(|| format!("failed to read `{path}`"))?;
    let value = profile::decode_record(&bytes).with_context(|| {
        format!("`{path}` is not a Cairn record block\n\nhint: `cairn cid {path}` addresses any file as raw bytes")
    })?;
    let cid = Cid::of_record(&bytes);
    let json = cairn_core::json::to_json(&value);
    if args.json {
        let out = crate::json::Inspected {
            cid: cid.to_string(),
            size: bytes.len(),
            value: json,
        };
        outln!("{}", serde_json::to_string(&out)?);
    } else {
        outln!("cid:  {cid}\nsize: {} bytes", bytes.len());
        outln!(
            "{}",
            serde_json::to_string_pretty(&json).context("failed to render JSON")?
        );
    }
    Ok(ExitCode::SUCCESS)
}
