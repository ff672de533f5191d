use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::home::IdentitySummary;
use serde_json::json;

use crate::settings;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create an identity (one root key, one signing key); the first becomes the default.
    New {
        /// A local name for it.
        #[arg(long)]
        petname: Option<String>,
        /// Print `{id, petname, default}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an identity: its ID alone on the first line, then details.
    Show {
        /// Which identity (petname or ID); the default if absent.
        #[arg(long = "as")]
        identity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the identities whose keys are in this home.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make an identity the default.
    Default {
        /// Petname or ID.
        identity: String,
    },
    /// Give an identity a local petname (never published).
    Petname {
        /// The petname.
        name: String,
        /// The identity ID (or another petname).
        identity: String,
    },
}

fn summary_json(s: &IdentitySummary) -> serde_json::Value {
    json!({
        "id": s.id.to_string(),
        "petnames": s.petnames,
        "default": s.default,
        "seq": s.seq,
        "threshold": s.keys.threshold,
        "root_keys": s.keys.root_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "signing_keys": s.keys.signing_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "revoked_keys": s.keys.revoked.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

pub(crate) fn run(home: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    match cmd {
        Command::New { petname, json } => {
            let pass = settings::passphrase(true)?;
            let held = home.identities()?.len() as u64;
            let id = home
                .create_identity(
                    &pass,
                    settings::kdf(),
                    settings::now()?,
                    &mut settings::keygen(held),
                    petname.as_deref(),
                )
                .context("failed to create the identity")?;
            let default = home.default_identity()? == Some(id);
            if json {
                println!(
                    "{}",
                    json!({ "id": id.to_string(), "petname": petname, "default": default })
                );
            } else {
                println!("{id}");
                eprintln!(
                    "created identity {id}{}{}",
                    petname.map(|p| format!(" ({p})")).unwrap_or_default(),
                    if default { ", now the default" } else { "" }
                );
                eprintln!("keys sealed in `{}`", home.key_path(&id).display());
            }
        }
        Command::Show { identity, json } => {
            let id = home.resolve(identity.as_deref())?;
            let summary = home
                .identities()?
                .into_iter()
                .find(|s| s.id == id)
                .with_context(|| format!("the keys of `{id}` are not in this home"))?;
            if json {
                println!("{}", summary_json(&summary));
            } else {
                println!("{id}");
                if !summary.petnames.is_empty() {
                    println!("petnames:     {}", summary.petnames.join(", "));
                }
                println!(
                    "default:      {}",
                    if summary.default { "yes" } else { "no" }
                );
                println!("log seq:      {}", summary.seq);
                println!(
                    "root keys:    {} (threshold {})",
                    summary.keys.root_keys.len(),
                    summary.keys.threshold
                );
                for k in &summary.keys.root_keys {
                    println!("  {k}");
                }
                println!("signing keys: {}", summary.keys.signing_keys.len());
                for k in &summary.keys.signing_keys {
                    println!("  {k}");
                }
            }
        }
        Command::List { json } => {
            let list = home.identities()?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(list.iter().map(summary_json).collect())
                );
            } else if list.is_empty() {
                eprintln!("no identity here yet\n\nhint: `cairn id new --petname NAME`");
            } else {
                for s in &list {
                    let names = if s.petnames.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", s.petnames.join(", "))
                    };
                    println!("{}{}{}", if s.default { "* " } else { "  " }, s.id, names);
                }
            }
        }
        Command::Default { identity } => {
            let id = home.resolve(Some(&identity))?;
            home.set_default(&id)?;
            eprintln!("default identity: {id}");
        }
        Command::Petname { name, identity } => {
            let id = home.resolve(Some(&identity))?;
            home.set_petname(&name, &id)?;
            eprintln!("`{name}` now means {id} in this home");
        }
    }
    Ok(ExitCode::SUCCESS)
}
