use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::block::verify_block;
use cairn_protocol::cid::{Cid, Codec};

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
        let cid = if args.record {
            let bytes = read_record(file)?;
            let cid = Cid::of_record(&bytes);
            verify_block(cid, &bytes).with_context(|| {
                format!(
                    "`{}` is not a Cairn record block\n\nhint: drop `--record` to address it as raw bytes",
                    file.display()
                )
            })?;
            cid
        } else {
            // Hashed as it is read: memory stays the same whatever the file's size.
            let mut f = std::fs::File::open(file)
                .with_context(|| format!("failed to read `{}`", file.display()))?;
            let mut hasher = blake3::Hasher::new();
            hasher
                .update_reader(&mut f)
                .with_context(|| format!("failed to read `{}`", file.display()))?;
            Cid::new(Codec::Raw, *hasher.finalize().as_bytes())
        };
        outln!("{cid}  {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a file that must be a record block: refused before reading when it is larger than a
/// record may be.
fn read_record(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("failed to read `{}`", file.display()))?
        .len();
    let max = cairn_protocol::profile::MAX_BLOCK_SIZE as u64;
    if size > max {
        anyhow::bail!(
            "`{}` is {size} bytes, larger than a record block may be ({max})\n\nhint: drop `--record` to address it as raw bytes",
            file.display()
        );
    }
    std::fs::read(file).with_context(|| format!("failed to read `{}`", file.display()))
}
