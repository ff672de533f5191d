//! One module per command.

mod cid;
mod curate;
mod demo;
mod exchange;
mod id;
mod index;
mod inspect;
mod inspect_log;
mod net;
mod project;
mod publish;
mod query;
mod resolve;
mod search;
mod version;

use std::process::ExitCode;

use cairn_protocol::index::version::VersionOp;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the content ID of files (raw artifacts by default).
    Cid(cid::Args),
    /// Build, check and publish a package index for a community.
    #[command(subcommand)]
    Curate(curate::Command),
    /// Create and manage identities.
    #[command(subcommand)]
    Id(id::Command),
    /// Publish the package in a directory as a new release of your version index.
    Publish(publish::Args),
    /// Yank a release: new resolutions avoid it, locked builds keep it.
    Yank {
        #[command(flatten)]
        target: index::Target,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Clear a yank.
    Unyank(index::Target),
    /// Deprecate a release.
    Deprecate {
        #[command(flatten)]
        target: index::Target,
        /// Why, and what to use instead.
        #[arg(long)]
        message: String,
    },
    /// Add a security advisory to a release.
    Advisory {
        #[command(flatten)]
        target: index::Target,
        /// Advisory ID, such as `CVE-2026-1234`.
        #[arg(long)]
        id: String,
        /// low, medium, high or critical.
        #[arg(long)]
        severity: String,
        /// One line.
        #[arg(long)]
        summary: String,
    },
    /// Give a co-maintainer permissions on a version index.
    Grant(index::Grant),
    /// Take all permissions from a co-maintainer (or hand over your own index).
    Revoke(index::Revoke),
    /// Show the verified state of a version index.
    Show(index::Show),
    /// Re-verify a log held here from genesis, or a block or artifact by CID; exit 1 if it fails.
    Verify {
        /// An index (`NAME`, `IDENTITY:NAME`), an identity, or a CID (a revision re-verifies
        /// its log; a record block or artifact is re-hashed).
        #[arg(required_unless_present = "installed")]
        log: Option<String>,
        /// Check the installed files of this project against what was installed.
        #[arg(long, conflicts_with = "log")]
        installed: bool,
    },
    /// Run Cairn's jobs end to end in a temporary directory, printing each command and its output.
    Demo(demo::Args),
    /// Start a project here: write `cairn.toml` and create `.cairn/`.
    Init(project::Init),
    /// Add dependencies, lock and install.
    Add(project::Add),
    /// Remove dependencies, lock and install (the tree no longer holds them).
    #[command(visible_alias = "uninstall")]
    Remove {
        /// The aliases.
        #[arg(required = true)]
        aliases: Vec<String>,
        #[command(flatten)]
        how: project::How,
    },
    /// Write `cairn.lock` for `cairn.toml` (kept as is while it still satisfies it).
    Lock(project::How),
    /// Install what `cairn.lock` pins (locking first if it is out of date).
    Install(project::Install),
    /// Move locked versions to the newest admissible ones (all, or these aliases).
    Update {
        /// The aliases (none: every package).
        aliases: Vec<String>,
        #[command(flatten)]
        how: project::How,
    },
    /// List the installed packages.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the locked dependency tree.
    Tree {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show every path from your requirements to a locked package.
    Why {
        /// The alias.
        alias: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what the lockfile and the store say about a package.
    Info {
        /// The alias.
        alias: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List locked packages with newer versions in the curator's index.
    Outdated {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove artifacts and unpacked releases nothing installed, locked, published or curated
    /// refers to; say how much was freed.
    Gc {
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print where an installed package's files are.
    Which {
        /// The alias.
        alias: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the revisions of a log.
    Log {
        /// An index (`NAME`, `IDENTITY:NAME`) or an identity.
        log: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a log and everything needed to verify it to a CAR file.
    Export(exchange::Export),
    /// Verify and store the logs of a CAR bundle.
    Import(exchange::Import),
    /// Resolve requirements against a curator's package index (nothing is installed).
    Resolve(resolve::Args),
    /// Decode a record block and show it as typed JSON.
    Inspect(inspect::Args),
    /// Compare versions and test constraints.
    #[command(subcommand)]
    Version(version::Command),
    /// Run this home's node on the peer network, or print its address.
    #[command(subcommand)]
    Node(net::NodeCommand),
    /// Keep the home's list of peers.
    #[command(subcommand)]
    Peer(net::PeerCommand),
    /// Fetch and verify a curator's package index and everything it admits from peers.
    Sync(net::SyncArgs),
    /// Push this home's heads to peers directly (an indexing node, say); they fetch what they
    /// lack from this home and say what they did.
    Announce(net::AnnounceArgs),
    /// Search an indexing node (`cairn-indexer serve`) for packages.
    Search(search::Args),
}

pub(crate) fn run(home: Option<&std::path::Path>, command: Command) -> anyhow::Result<ExitCode> {
    // Commands that sign revisions tell the home's peers when a head moved.
    let signs = match &command {
        Command::Publish(args) => !args.dry_run,
        Command::Curate(cmd) => matches!(cmd, curate::Command::Publish { .. }),
        Command::Yank { .. }
        | Command::Unyank(_)
        | Command::Deprecate { .. }
        | Command::Advisory { .. }
        | Command::Grant(_)
        | Command::Revoke(_) => true,
        _ => false,
    };
    let push = match &command {
        Command::Publish(args) => args.push.clone(),
        _ => Vec::new(),
    };
    for p in &push {
        // A bad peer is refused before anything is signed.
        p.parse::<cairn_core::net::Peer>()?;
    }
    let before = if signs { net::heads(home) } else { None };
    let code = dispatch(home, command)?;
    if let Some(before) = before {
        net::announce_if_moved(home, &before);
        if !push.is_empty() && code == ExitCode::SUCCESS {
            return net::push_moved(home, &before, &push);
        }
    }
    Ok(code)
}

fn dispatch(home: Option<&std::path::Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Cid(args) => cid::run(&args),
        Command::Id(cmd) => id::run(home, cmd),
        Command::Curate(cmd) => curate::run(home, cmd),
        Command::Publish(args) => publish::run(home, &args),
        Command::Yank { target, reason } => {
            index::status(home, &target, |version| VersionOp::Yank { version, reason })
        }
        Command::Unyank(target) => {
            index::status(home, &target, |version| VersionOp::Unyank { version })
        }
        Command::Deprecate { target, message } => index::status(home, &target, |version| {
            VersionOp::Deprecate { version, message }
        }),
        Command::Advisory {
            target,
            id,
            severity,
            summary,
        } => index::status(home, &target, index::advisory(id, &severity, summary)?),
        Command::Grant(g) => index::grant(home, &g),
        Command::Revoke(r) => index::revoke(home, &r),
        Command::Show(s) => index::show(home, &s),
        Command::Export(e) => exchange::export(home, &e),
        Command::Verify { log: Some(log), .. } => inspect_log::verify(home, &log),
        Command::Verify { log: None, .. } => project::verify_installed(home),
        Command::Demo(args) => demo::run(&args),
        Command::Init(args) => project::init(home, &args),
        Command::Add(args) => project::add(home, &args),
        Command::Remove { aliases, how } => project::remove(home, &aliases, &how),
        Command::Lock(how) => project::lock(home, &how, None),
        Command::Install(args) => project::install(home, &args),
        Command::Update { aliases, how } => project::lock(home, &how, Some(aliases)),
        Command::List { json } => project::list(home, json),
        Command::Which { alias, json } => project::which(home, &alias, json),
        Command::Tree { json } => query::tree(home, json),
        Command::Gc { dry_run, json } => project::gc(home, dry_run, json),
        Command::Why { alias, json } => query::why(home, &alias, json),
        Command::Info { alias, json } => query::info(home, &alias, json),
        Command::Outdated { json } => query::outdated(home, json),
        Command::Log { log, json } => inspect_log::log(home, &log, json),
        Command::Import(i) => exchange::import(home, &i),
        Command::Resolve(args) => resolve::run(home, &args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Version(cmd) => version::run(cmd),
        Command::Node(cmd) => net::node(home, &cmd),
        Command::Peer(cmd) => net::peer(home, &cmd),
        Command::Sync(args) => net::sync(home, &args),
        Command::Announce(args) => net::announce(home, &args),
        Command::Search(args) => search::run(&args),
    }
}
