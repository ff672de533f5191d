use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::atomic::{Access, AtomicFile};
use cairn_core::home::{Home, Unlocked};
use cairn_core::keys;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::sign::PublicKey;

use crate::settings;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create an identity (one root key, one signing key); the first becomes the default.
    New {
        /// A local name for it.
        #[arg(long)]
        petname: Option<String>,
        /// Give it the petname even if another identity has it.
        #[arg(long)]
        force: bool,
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
    /// Add a signing key (an identity change: signed by the root keys).
    AddKey(KeyChange),
    /// Replace the signing keys by a new one.
    Rotate(KeyChange),
    /// Revoke a key forever (after a leak).
    RevokeKey {
        /// The key (its text form, `b5ua…`).
        key: String,
        #[command(flatten)]
        change: KeyChange,
    },
    /// Write the identity (its log and sealed keys) to a file for another machine.
    Export {
        /// Which identity; the default if absent.
        #[arg(long = "as")]
        identity: Option<String>,
        /// The file to write (mode 0600: it holds the sealed keys).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Import an identity file written by `cairn id export`.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Write the root keys to a separate key file; with `--remove`, take them off this machine.
    ExportRoot {
        /// Which identity; the default if absent.
        #[arg(long = "as")]
        identity: Option<String>,
        /// The root key file to write (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Remove the root keys from this home afterwards.
        #[arg(long)]
        remove: bool,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Give an identity a local petname (never published).
    Petname {
        /// The petname.
        name: String,
        /// The identity ID (or another petname).
        identity: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeyChange {
    /// Which identity; the default if absent.
    #[arg(long = "as")]
    identity: Option<String>,
    /// A root key file written by `cairn id export-root` (when the root keys are not here).
    #[arg(long, value_name = "FILE")]
    root: Option<PathBuf>,
}

/// Unlocks the home key file and, if given, the root key file (same passphrase).
fn unlock(
    home: &Home,
    id: &IdentityId,
    root: Option<&Path>,
    pass: &[u8],
) -> anyhow::Result<Unlocked> {
    let home_ring = home
        .unlock(id, pass)
        .context("failed to unlock the key file")?;
    let root = root
        .map(|p| -> anyhow::Result<_> {
            let bytes =
                std::fs::read(p).with_context(|| format!("failed to read `{}`", p.display()))?;
            let ring = keys::open(&bytes, pass)
                .with_context(|| format!("failed to open the root key file `{}`", p.display()))?;
            anyhow::ensure!(
                ring.identity == *id,
                "`{}` holds the keys of `{}`, not of `{id}`",
                p.display(),
                ring.identity
            );
            Ok(ring)
        })
        .transpose()?;
    Ok(Unlocked {
        home: home_ring,
        root,
    })
}

/// A fresh signing key (in test-seed mode, salted by the identity's log length so that every
/// change gets a different key).
fn new_key(home: &Home, id: &IdentityId) -> anyhow::Result<cairn_protocol::sign::SecretKey> {
    let seq = home.identity_seq(id)?.unwrap_or(0);
    settings::keygen(1000 + seq)().context("failed to generate a key")
}

fn show(home: &Home, identity: Option<&str>, json: bool) -> anyhow::Result<()> {
    let id = home.resolve(identity)?;
    let summary = home
        .identities()?
        .into_iter()
        .find(|s| s.id == id)
        .with_context(|| format!("the keys of `{id}` are not in this home"))?;
    if json {
        outln!(
            "{}",
            serde_json::to_string(&crate::json::Identity::from(&summary))?
        );
    } else {
        outln!("{id}");
        if !summary.petnames.is_empty() {
            outln!("petnames:     {}", summary.petnames.join(", "));
        }
        outln!(
            "default:      {}",
            if summary.default { "yes" } else { "no" }
        );
        outln!("log seq:      {}", summary.seq);
        outln!(
            "root keys:    {} (threshold {})",
            summary.keys.root_keys.len(),
            summary.keys.threshold
        );
        for k in &summary.keys.root_keys {
            outln!("  {k}");
        }
        outln!("signing keys: {}", summary.keys.signing_keys.len());
        for k in &summary.keys.signing_keys {
            outln!("  {k}");
        }
    }

    Ok(())
}

/// The key-management commands: identity changes signed by root keys, and moving keys.
fn keys_command(home: &mut Home, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::AddKey(c) => {
            let id = home.resolve(c.identity.as_deref())?;
            let pass = settings::passphrase(false)?;
            let keys = unlock(home, &id, c.root.as_deref(), &pass)?;
            let new = new_key(home, &id)?;
            let public = home
                .add_signing_key(id, &keys, new, &pass, settings::kdf(), settings::now()?)
                .context("failed to add the key")?;
            outln!("{public}");
            eprintln!("added signing key {public} to {id}");
        }
        Command::Rotate(c) => {
            let id = home.resolve(c.identity.as_deref())?;
            let pass = settings::passphrase(false)?;
            let keys = unlock(home, &id, c.root.as_deref(), &pass)?;
            let new = new_key(home, &id)?;
            let public = home
                .rotate_signing_key(id, &keys, new, &pass, settings::kdf(), settings::now()?)
                .context("failed to rotate")?;
            outln!("{public}");
            eprintln!("{id} now signs with {public}; the previous signing keys were removed");
        }
        Command::RevokeKey { key, change } => {
            let id = home.resolve(change.identity.as_deref())?;
            let public: PublicKey = key
                .parse()
                .with_context(|| format!("`{key}` is not a public key"))?;
            let pass = settings::passphrase(false)?;
            let keys = unlock(home, &id, change.root.as_deref(), &pass)?;
            home.revoke_key(id, &keys, public, &pass, settings::kdf(), settings::now()?)
                .context("failed to revoke the key")?;
            eprintln!("revoked {public}: revisions citing later states of {id} may not use it");
        }
        Command::Export {
            identity,
            out,
            force,
        } => {
            let id = home.resolve(identity.as_deref())?;
            let bytes = home.export_identity(id)?;
            // The file holds sealed secret keys: owner-only, like the home's key files, and an
            // existing file (perhaps another identity's only copy) is kept unless `--force`.
            let file = AtomicFile::create(&out, Access::Private)
                .and_then(|mut f| f.write_all(&bytes).map(|()| f))
                .with_context(|| format!("failed to write `{}`", out.display()))?;
            let written = if force {
                file.commit("export:after-temp-write")
            } else {
                file.commit_new("export:after-temp-write")
            };
            match written {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
                    "`{}` already exists; nothing was written\n\nhint: choose another file, or pass `--force` to replace it",
                    out.display()
                ),
                other => other.with_context(|| format!("failed to write `{}`", out.display()))?,
            }
            eprintln!(
                "wrote {id} ({}) to `{}`",
                carried(home, &id)?,
                out.display()
            );
        }
        Command::Import { file } => {
            let data = std::fs::read(&file)
                .with_context(|| format!("failed to read `{}`", file.display()))?;
            let pass = settings::passphrase(false)?;
            let id = home
                .import_identity_file(&data, &pass)
                .context("failed to import the identity")?;
            outln!("{id}");
        }
        Command::ExportRoot {
            identity,
            out,
            remove,
            force,
        } => {
            let id = home.resolve(identity.as_deref())?;
            let pass = settings::passphrase(false)?;
            let keys = unlock(home, &id, None, &pass)?;
            home.export_root(id, &keys, &pass, settings::kdf(), &out, force, remove)?;
            eprintln!(
                "root keys of {id} written to `{}`{}",
                out.display(),
                if remove {
                    "; removed from this home (pass `--root FILE` to change the identity)"
                } else {
                    ""
                }
            );
        }
        _ => unreachable!("only key-management commands are passed here"),
    }
    Ok(())
}

pub(crate) fn run(home: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    match cmd {
        Command::New {
            petname,
            force,
            json,
        } => {
            let pass = settings::passphrase(true)?;
            let held = home.identities()?.len() as u64;
            let id = home
                .create_identity(
                    &pass,
                    settings::kdf(),
                    settings::now()?,
                    &mut settings::keygen(held),
                    petname.as_deref().filter(|_| !force),
                )
                .context("failed to create the identity")?;
            if let Some(p) = petname.as_deref().filter(|_| force) {
                home.set_petname(p, &id)?;
            }
            let default = home.default_identity()? == Some(id);
            if json {
                outln!(
                    "{}",
                    serde_json::to_string(&crate::json::Created {
                        id: id.to_string(),
                        petname: petname.as_deref(),
                        default
                    })?
                );
            } else {
                outln!("{id}");
                eprintln!(
                    "created identity {id}{}{}",
                    petname.map(|p| format!(" ({p})")).unwrap_or_default(),
                    if default { ", now the default" } else { "" }
                );
                eprintln!("keys sealed in `{}`", home.key_path(&id).display());
            }
        }
        Command::Show { identity, json } => show(&home, identity.as_deref(), json)?,
        Command::List { json } => {
            let list = home.identities()?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string(
                        &list
                            .iter()
                            .map(crate::json::Identity::from)
                            .collect::<Vec<_>>()
                    )?
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
                    outln!("{}{}{}", if s.default { "* " } else { "  " }, s.id, names);
                }
            }
        }
        other @ (Command::AddKey(_)
        | Command::Rotate(_)
        | Command::RevokeKey { .. }
        | Command::Export { .. }
        | Command::Import { .. }
        | Command::ExportRoot { .. }) => keys_command(&mut home, other)?,
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

/// What an identity file of `id` carries, in words.
fn carried(home: &Home, id: &cairn_protocol::identity::IdentityId) -> anyhow::Result<String> {
    let indexes: Vec<String> = home
        .indexes_of(id)?
        .iter()
        .map(|i| i.split_once(':').map_or(i.as_str(), |(_, n)| n).to_owned())
        .collect();
    Ok(match indexes.len() {
        0 => "identity log and sealed keys".to_owned(),
        1 => format!("identity log, sealed keys and its index {}", indexes[0]),
        n => format!(
            "identity log, sealed keys and its {n} indexes: {}",
            indexes.join(", ")
        ),
    })
}
