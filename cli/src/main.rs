//! The `cairn` command. Parsing and printing live here; every decision lives in `cairn-core`.

/// `println!` that ends the process quietly when stdout is closed (`cairn … | head`), instead
/// of panicking on the broken pipe. Commands print only after their work is done.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod commands;
mod json;
mod settings;

use std::process::ExitCode;

use clap::Parser;

/// Cairn: a decentralized package index.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
struct Cli {
    /// The Cairn home (default: `$CAIRN_HOME`, else the platform data directory).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    // With `--json`, a script reads stdout: a failure is a JSON document there too.
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = Cli::parse();
    match commands::run(cli.home.as_deref(), cli.command) {
        Ok(code) => code,
        Err(err) => {
            let text = format!("{err:#}");
            if json {
                let (message, hints) = match text.split_once("\n\nhint: ") {
                    Some((m, h)) => (m, h.split("\nhint: ").collect()),
                    None => (text.as_str(), Vec::new()),
                };
                let out = json::Failure {
                    error: message,
                    hints,
                };
                if let Ok(line) = serde_json::to_string(&out) {
                    outln!("{line}");
                }
            }
            eprintln!("error: {text}");
            ExitCode::from(2)
        }
    }
}
