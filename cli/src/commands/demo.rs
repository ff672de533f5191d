//! `cairn demo`: Cairn's jobs end to end, in a temporary directory, each step printed as the
//! command a person would type followed by its real output.
//!
//! Every step runs this very binary as a child process with its own `--home`, so what the demo
//! shows is exactly what those commands do.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};

/// `cairn demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Work in this directory (kept afterwards) instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

struct Demo {
    exe: PathBuf,
    root: PathBuf,
}

impl Demo {
    /// Searches `libfoo` on the indexing node `indexer` (a URL or a peer), quietly, until
    /// the JSON answer holds `needle`; fails after `within`.
    fn until_search_finds(
        &self,
        indexer: &str,
        needle: &str,
        within: std::time::Duration,
    ) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        loop {
            let out = Command::new(&self.exe)
                .args(["search", "libfoo", "--indexer", indexer, "--json"])
                .current_dir(&self.root)
                .output()?;
            if String::from_utf8_lossy(&out.stdout).contains(needle) {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!("no answer held `{needle}` within {} s", within.as_secs());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Runs `cairn ARGS` in `cwd` (relative to the demo root), printing it and its output.
    fn run(&self, cwd: &str, args: &[&str]) -> anyhow::Result<String> {
        Ok(self.run_both(cwd, args)?.0)
    }

    /// [`Demo::run`], returning what the command printed on stdout and on stderr.
    fn run_both(&self, cwd: &str, args: &[&str]) -> anyhow::Result<(String, String)> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.contains('^') || a.contains('>') {
                    format!("'{a}'")
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let prompt = if cwd == "." {
            String::new()
        } else {
            format!("{cwd} ")
        };
        println!("{prompt}$ cairn {}", shown.join(" "));
        let home_dir = self.root.join("homes");
        let out = Command::new(&self.exe)
            .args(args)
            .current_dir(self.root.join(cwd))
            .env(
                "CAIRN_PASSPHRASE",
                "demo passphrase: never use one like this",
            )
            .env("CAIRN_HOME", home_dir.join("default"))
            .output()
            .with_context(|| format!("cannot run `{}`", self.exe.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for line in stdout.lines().chain(stderr.lines()) {
            println!("  {line}");
        }
        println!();
        if !out.status.success() {
            bail!("the demo step `cairn {}` failed", args.join(" "));
        }
        Ok((stdout, stderr))
    }

    fn write(&self, rel: &str, text: &str) -> anyhow::Result<()> {
        let path = self.root.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))
    }

    /// The identity a home's `id new` created (the first line it prints).
    fn new_identity(&self, home: &str) -> anyhow::Result<String> {
        let out = self.run(".", &["--home", home, "id", "new", "--petname", home])?;
        out.lines()
            .next()
            .map(str::to_owned)
            .context("`id new` printed no identity")
    }
}

#[allow(clippy::too_many_lines)] // A demo reads best as one story.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let temp;
    let root = if let Some(d) = &args.dir {
        std::fs::create_dir_all(d)?;
        d.canonicalize()?
    } else {
        temp = tempfile::Builder::new()
            .prefix("cairn-demo-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        temp.path().to_path_buf()
    };
    let d = Demo {
        exe: std::env::current_exe().context("cannot find this program's path")?,
        root: root.clone(),
    };
    let platform = cairn_core::project::platform();
    println!("Cairn demo in {}", root.display());
    println!("Every home below is a separate Cairn home (--home DIR): a publisher's, a curator's,");
    println!(
        "a consumer's. Nothing leaves this directory: data moves between homes as files, then"
    );
    println!("between nodes on loopback.\n");

    say("1. Publishers create identities and publish releases under them.");
    let ann = d.new_identity("ann")?;
    let lucy = d.new_identity("lucy")?;
    d.write(
        "src/zlib/cairn.toml",
        &format!(
            "[package]\nname = \"zlib\"\nversion = \"1.3.0\"\ndescription = \"Compression.\"\nassets = {{ {platform} = \"dist/libz.so\" }}\n"
        ),
    )?;
    d.write(
        "src/zlib/dist/libz.so",
        "a shared library built for this platform\n",
    )?;
    d.write("src/zlib/include/zlib.h", "int deflate(void);\n")?;
    d.write(
        "src/libbar/cairn.toml",
        "[package]\nname = \"libbar\"\nversion = \"2.1.0\"\ndescription = \"Bars.\"\n\n[dependencies]\nzlib = { version = \">=1.2 <2\", private = true }\n",
    )?;
    d.write("src/libbar/bar.txt", "bar 2.1\n")?;
    d.write(
        "src/libbar-2.0/cairn.toml",
        "[package]\nname = \"libbar\"\nversion = \"2.0.0\"\ndescription = \"Bars.\"\n",
    )?;
    d.write("src/libbar-2.0/bar.txt", "bar 2.0\n")?;
    d.write(
        "src/libfoo/cairn.toml",
        "[package]\nname = \"libfoo\"\nversion = \"1.0.0\"\ndescription = \"Foos, built on bars.\"\n\n[dependencies]\nlibbar = \"^2.0\"\n",
    )?;
    d.write("src/libfoo/foo.txt", "foo 1.0\n")?;
    d.run(".", &["--home", "ann", "publish", "--path", "src/zlib"])?;
    d.run(
        ".",
        &["--home", "ann", "publish", "--path", "src/libbar-2.0"],
    )?;
    d.run(".", &["--home", "ann", "publish", "--path", "src/libbar"])?;
    d.run(".", &["--home", "lucy", "publish", "--path", "src/libfoo"])?;
    d.run(".", &["--home", "ann", "show", "libbar"])?;

    say("2. A curator gathers their indexes (bundles carry logs, signatures and artifacts),");
    say("   names them in a community index, checks that the closure resolves, and signs it.");
    d.run(
        ".",
        &[
            "--home",
            "ann",
            "export",
            "zlib",
            "libbar",
            "--with-artifacts",
            "--car",
            "ann.car",
        ],
    )?;
    d.run(
        ".",
        &[
            "--home",
            "lucy",
            "export",
            "libfoo",
            "--with-artifacts",
            "--car",
            "lucy.car",
        ],
    )?;
    let cora = d.new_identity("cora")?;
    d.run(".", &["--home", "cora", "import", "ann.car"])?;
    d.run(".", &["--home", "cora", "import", "lucy.car"])?;
    d.run(".", &["--home", "cora", "curate", "new", "community"])?;
    for (alias, target) in [("zlib", &ann), ("libbar", &ann), ("libfoo", &lucy)] {
        d.run(
            ".",
            &[
                "--home",
                "cora",
                "curate",
                "add",
                "community",
                alias,
                &format!("{target}:{alias}"),
            ],
        )?;
    }
    d.run(".", &["--home", "cora", "curate", "check", "community"])?;
    d.run(".", &["--home", "cora", "curate", "publish", "community"])?;
    let community = format!("{cora}:community");
    d.run(
        ".",
        &[
            "--home",
            "cora",
            "export",
            "community",
            &format!("{ann}:zlib"),
            &format!("{ann}:libbar"),
            &format!("{lucy}:libfoo"),
            "--with-artifacts",
            "--car",
            "community.car",
        ],
    )?;

    say("3. A consumer picks the curator's index, adds a dependency, and gets a lockfile and");
    say("   a verified install (libbar's zlib is private to it; zlib ships a per-platform asset).");
    std::fs::create_dir_all(root.join("app"))?;
    d.run("app", &["--home", "../me", "import", "../community.car"])?;
    d.run("app", &["--home", "../me", "init", "--index", &community])?;
    d.run("app", &["--home", "../me", "add", "libfoo"])?;
    d.run("app", &["--home", "../me", "list"])?;
    d.run("app", &["--home", "../me", "verify", "--installed"])?;
    d.run("app", &["--home", "../me", "which", "libfoo"])?;
    println!("app $ cat cairn.toml");
    for l in std::fs::read_to_string(root.join("app/cairn.toml"))?.lines() {
        println!("  {l}");
    }
    println!();

    say("4. On another machine (a second home), the committed lockfile re-installs offline:");
    say("   no index is read; every artifact is checked against the lockfile before it lands.");
    d.run(
        "app",
        &[
            "--home",
            "../me",
            "export",
            "--lockfile",
            "cairn.lock",
            "--with-artifacts",
            "--car",
            "../app-lock.car",
        ],
    )?;
    std::fs::create_dir_all(root.join("ci/.cairn"))?;
    for f in ["cairn.toml", "cairn.lock"] {
        std::fs::copy(root.join("app").join(f), root.join("ci").join(f))?;
    }
    d.run("ci", &["--home", "../ci-home", "import", "../app-lock.car"])?;
    d.run(
        "ci",
        &["--home", "../ci-home", "install", "--frozen", "--offline"],
    )?;
    let same = tree_bytes(&root.join("app/.cairn/packages"))?
        == tree_bytes(&root.join("ci/.cairn/packages"))?;
    println!(
        "# the two installed trees are {}\n",
        if same { "byte-identical" } else { "DIFFERENT" }
    );
    if !same {
        bail!("the offline re-install differs from the original");
    }

    say("5. The publisher yanks a release; the consumer hears of it and is warned on install.");
    say("   The locked release stays installable until the consumer moves off it.");
    d.run(
        ".",
        &[
            "--home",
            "ann",
            "yank",
            "libbar@2.1.0",
            "--reason",
            "corrupts bars on big-endian",
        ],
    )?;
    d.run(
        ".",
        &[
            "--home",
            "ann",
            "export",
            "libbar",
            "--car",
            "libbar-yanked.car",
        ],
    )?;
    d.run(
        "app",
        &["--home", "../me", "import", "../libbar-yanked.car"],
    )?;
    d.run("app", &["--home", "../me", "install"])?;
    over_the_network(&d, &community, &ann)?;
    println!(
        "Done in {:.1} s: 3 identities, 5 releases, 1 curated index, 4 installs, 4 nodes, 1 indexing node.",
        started.elapsed().as_secs_f64()
    );
    if args.dir.is_none() {
        println!("(The temporary directory is removed; pass `--dir DIR` to keep it.)");
    }
    Ok(ExitCode::SUCCESS)
}

/// A `cairn node start` running in the background; stopped (SIGTERM, then waited for) on drop.
struct Node {
    child: std::process::Child,
    home: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts `home`'s node on loopback; returns it and the address it prints.
    fn node(&self, home: &str) -> anyhow::Result<(Node, String)> {
        println!("$ cairn --home {home} node start --listen 127.0.0.1:0 &");
        let log = std::fs::File::create(self.root.join(format!("{home}-node.log")))?;
        let child = Command::new(&self.exe)
            .args(["--home", home, "node", "start", "--listen", "127.0.0.1:0"])
            .current_dir(&self.root)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start `{home}`'s node"))?;
        let node = Node {
            child,
            home: home.to_owned(),
        };
        let addr = self.root.join(home).join(cairn_core::net::NODE_ADDR);
        let started = std::time::Instant::now();
        while !addr.is_file() {
            if started.elapsed() > std::time::Duration::from_secs(30) {
                bail!("`{}`'s node did not start", node.home);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let addr = self.run(".", &["--home", home, "node", "addr"])?;
        Ok((node, addr.trim().to_owned()))
    }
}

/// The last act: the same jobs over the peer network, with no file carried by hand.
fn over_the_network(d: &Demo, community: &str, ann: &str) -> anyhow::Result<()> {
    say("6. Over the peer network (iroh on loopback, no server): the curator's node serves what");
    say("   it holds; a new machine syncs the community index from it and installs, fetching");
    say("   every artifact from the peer and checking it before it lands.");
    let (cora_node, cora) = d.node("cora")?;
    d.run(".", &["--home", "laptop", "peer", "add", &cora])?;
    d.run(".", &["--home", "laptop", "sync", community])?;
    std::fs::create_dir_all(d.root.join("app2"))?;
    d.run(
        "app2",
        &["--home", "../laptop", "init", "--index", community],
    )?;
    d.run("app2", &["--home", "../laptop", "add", "libfoo"])?;

    say("7. The publisher and the laptop run nodes too, and the publisher yanks a release: the");
    say("   announcement spreads node to node, each fetching the new revision from the one that");
    say("   told it and verifying it before passing it on. Nobody runs a sync.");
    d.run(".", &["--home", "ann", "peer", "add", &cora])?;
    let (_ann_node, ann_addr) = d.node("ann")?;
    let (_laptop_node, laptop) = d.node("laptop")?;
    d.run(
        ".",
        &[
            "--home",
            "ann",
            "yank",
            "libbar@2.0.0",
            "--reason",
            "superseded by 2.1.0",
        ],
    )?;
    let libbar = format!("{ann}:libbar");
    let started = std::time::Instant::now();
    loop {
        let out = Command::new(&d.exe)
            .args(["--home", "laptop", "show", &libbar, "--json"])
            .current_dir(&d.root)
            .output()?;
        if String::from_utf8_lossy(&out.stdout).contains("superseded by 2.1.0") {
            break;
        }
        if started.elapsed() > std::time::Duration::from_mins(1) {
            bail!("the yank did not reach the laptop within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!(
        "# the yank reached the laptop in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    d.run(".", &["--home", "laptop", "show", &libbar])?;
    in_a_room(d, community, &cora, cora_node, &laptop)?;
    indexed(d, community, &[&ann_addr, &laptop])
}

/// An indexing node hears the running nodes, fetches and verifies what they announce (and
/// what the community index admits), and search finds the demo's packages with their curator.
fn indexed(d: &Demo, community: &str, peers: &[&str]) -> anyhow::Result<()> {
    say("9. An indexing node starts on loopback, knowing only the publisher's and the laptop's");
    say("   nodes. It hears their announcements, fetches and verifies every index (and what the");
    say("   community index admits), and makes them searchable over HTTP and a web page.");
    let mut shown = vec!["cairn-indexer run --home indexer --http 127.0.0.1:0".to_owned()];
    shown.extend(peers.iter().map(|p| format!("--peer {p}")));
    println!("$ {} &", shown.join(" "));
    let peers = peers
        .iter()
        .map(|p| p.parse::<cairn_core::net::Peer>())
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let indexer = runtime.block_on(cairn_indexer::node::Indexer::start(
        cairn_indexer::node::Config::loopback(&d.root.join("indexer"), peers),
    ))?;
    let http = indexer.http_addr().context("the indexer serves no HTTP")?;
    let url = format!("http://{http}");
    println!("  serving {url}/");
    let started = std::time::Instant::now();
    d.until_search_finds(&url, community, std::time::Duration::from_mins(1))
        .context("the indexing node did not index the community's packages")?;
    println!(
        "# the indexing node verified and indexed what it heard in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    d.run(".", &["search", "libfoo", "--indexer", &url])?;
    d.run(".", &["search", "bars", "--indexer", &url])?;
    say("   Lucy runs no node and shares no swarm with the indexing node: she pushes her next");
    say("   release to it directly. It fetches the release from her while the command waits,");
    say("   and answers searches over the peer network too, by its endpoint ID.");
    let node = indexer.addr().to_string();
    d.write(
        "src/libfoo-1.1/cairn.toml",
        "[package]\nname = \"libfoo\"\nversion = \"1.1.0\"\ndescription = \"Foos, built on bars.\"\n\n[dependencies]\nlibbar = \"^2.0\"\n",
    )?;
    d.write("src/libfoo-1.1/foo.txt", "foo 1.1\n")?;
    d.run(
        ".",
        &[
            "--home",
            "lucy",
            "publish",
            "--path",
            "src/libfoo-1.1",
            "--push",
            &node,
        ],
    )?;
    d.until_search_finds(&node, "\"1.1.0\"", std::time::Duration::from_secs(30))
        .context("the pushed release did not reach the indexing node's search")?;
    d.run(".", &["search", "libfoo", "--indexer", &node])?;
    runtime.block_on(indexer.shutdown());
    Ok(())
}

/// The project room: a second machine of the laptop's team learns from the room which
/// machine holds what, and installs from the laptop once the curator's machine is gone.
fn in_a_room(
    d: &Demo,
    community: &str,
    cora: &str,
    cora_node: Node,
    laptop: &str,
) -> anyhow::Result<()> {
    say("8. A second machine of the laptop's team, the desk, knows only the curator's node. It");
    say("   syncs, and its node joins the room of the community index, where every node says");
    say("   which artifacts it holds. The curator's machine goes offline; the desk installs the");
    say("   laptop's project anyway, from the laptop, which nobody told it about.");
    d.run(".", &["--home", "desk", "peer", "add", cora])?;
    d.run(".", &["--home", "desk", "sync", community])?;
    let (_desk_node, _) = d.node("desk")?;
    let laptop: cairn_core::net::Peer = laptop.parse()?;
    let lock = cairn_core::lockfile::Lockfile::load(
        &d.root.join("app2").join(cairn_core::lockfile::LOCKFILE),
    )?
    .context("the laptop's project has a lockfile")?;
    let platform = cairn_core::project::platform();
    let mut artifacts = Vec::new();
    for p in &lock.packages {
        artifacts.push(cairn_core::project::pick(p, &platform)?.1.clone());
    }
    let started = std::time::Instant::now();
    loop {
        let desk = cairn_core::home::Home::open(&d.root.join("desk"))?;
        if cairn_core::net::sync::holders(&desk, &artifacts)?
            .iter()
            .any(|p| p.id == laptop.id)
        {
            break;
        }
        if started.elapsed() > std::time::Duration::from_mins(1) {
            bail!("the desk did not hear within a minute that the laptop holds the artifacts");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!(
        "# the desk heard in the room, after {:.1} s, that the laptop holds the artifacts",
        started.elapsed().as_secs_f64()
    );
    drop(cora_node);
    // The desk checks out the laptop's project: its manifest and lockfile.
    std::fs::create_dir_all(d.root.join("desk-app"))?;
    for file in ["cairn.toml", cairn_core::lockfile::LOCKFILE] {
        std::fs::copy(
            d.root.join("app2").join(file),
            d.root.join("desk-app").join(file),
        )?;
    }
    println!("desk-app $ cp ../app2/cairn.toml ../app2/cairn.lock .");
    let (_, said) = d.run_both("desk-app", &["--home", "../desk", "install"])?;
    let from_laptop = format!("from {}", laptop.id.fmt_short());
    if !said.contains(&from_laptop) {
        bail!("the desk did not fetch from the laptop");
    }
    println!("# the desk fetched every artifact from the laptop's node");
    Ok(())
}

fn say(text: &str) {
    println!("# {text}");
}

/// Every file under `dir` (following the tree link), by relative path, with its bytes.
fn tree_bytes(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.canonicalize()?];
    let base = todo[0].clone();
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(&base)?.to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p)?));
            }
        }
    }
    out.sort();
    Ok(out)
}
