use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::block::verify_block;
use cairn_protocol::cid::Cid;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files to address.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Treat each file as a record block: check the record profile and print its dag-cbor CID.
    #[arg(long)]
    record: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    for file in &args.files {
        let bytes =
            std::fs::read(file).with_context(|| format!("failed to read `{}`", file.display()))?;
        let cid = if args.record {
            let cid = Cid::of_record(&bytes);
            verify_block(cid, &bytes).with_context(|| {
                format!(
                    "`{}` is not a Cairn record block\n\nhint: drop `--record` to address it as raw bytes",
                    file.display()
                )
            })?;
            cid
        } else {
            Cid::of_raw(&bytes)
        };
        outln!("{cid}  {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}
