//! Search over a home's store: exact names and aliases first, then text relevance weighted by
//! what curators the operator trusts admit; throwaway identities that stuff keywords and curate
//! each other rank below a curated package.

use std::path::Path;

use cairn_core::home::Home;
use cairn_core::testing::{Person, T, create_in, curate_index as curate, publish_dir};
use cairn_indexer::search::{self, Hit};

mod common;

/// Publishes `name` 1.0.0 as `who`, with a description and keywords.
fn publish(home: &mut Home, who: &Person, work: &Path, name: &str, about: &str, keywords: &str) {
    let dir = work.join(format!("{}-{name}", who.id()));
    std::fs::create_dir_all(dir.join("src")).expect("dir");
    std::fs::write(
        dir.join("cairn.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"{about}\"\nkeywords = [{keywords}]\nlicense = \"MIT\"\n"
        ),
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.txt"), name).expect("source");
    publish_dir(home, who, &dir, T);
}

/// A scratch folder and its home `home` holding alice, bob and cora.
fn three_people() -> (tempfile::TempDir, std::path::PathBuf, Home, [Person; 3]) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("home");
    let mut home = Home::open(&dir).expect("home");
    let people = [Person::new(1), Person::new(2), Person::new(3)];
    for p in &people {
        create_in(p, &mut home);
    }
    (tmp, dir, home, people)
}

fn names(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.index.as_str()).collect()
}

#[test]
fn curated_packages_outrank_keyword_stuffing_throwaway_identities() {
    let (tmp, dir, mut home, [alice, bob, cora]) = three_people();
    publish(
        &mut home,
        &alice,
        tmp.path(),
        "fetch",
        "An HTTP client.",
        "\"http\", \"client\"",
    );
    publish(
        &mut home,
        &bob,
        tmp.path(),
        "json",
        "JSON for bars.",
        "\"json\"",
    );
    let (fetch, json) = (alice.index("fetch"), bob.index("json"));
    let community = curate(
        &mut home,
        &cora,
        "community",
        &[("fetch", &fetch), ("serde-json", &json)],
    );
    // Forty throwaway identities stuff keywords and curate each other's packages.
    let mut spam = Vec::new();
    for n in 0..40u8 {
        let p = Person::new(100 + n);
        create_in(&p, &mut home);
        publish(
            &mut home,
            &p,
            tmp.path(),
            "http-client",
            "http client http client http client best fastest",
            "\"http\", \"client\", \"fetch\"",
        );
        spam.push(p);
    }
    for (i, p) in spam.iter().enumerate() {
        let next = spam[(i + 1) % spam.len()].index("http-client");
        curate(
            &mut home,
            p,
            "picks",
            &[("http-client", &p.index("http-client")), ("other", &next)],
        );
    }
    drop(home);

    let done = search::reindex(&dir, Some(&[community.to_string()]), T + 86_400).expect("reindex");
    assert_eq!((done.packages, done.curated), (42, 41));

    // Words: the curated client comes first, above forty keyword-stuffed copies.
    let hits = search::search(&dir, "http client", 10).expect("search");
    assert_eq!(hits[0].index, fetch.to_string(), "{:?}", names(&hits));
    assert_eq!(hits[0].curators, vec![community.to_string()]);
    assert!(hits.len() == 10 && hits[1..].iter().all(|h| h.name == "http-client"));
    // An exact name, and an exact alias a curator gives, come first.
    assert_eq!(
        search::search(&dir, "fetch", 3).expect("search")[0].index,
        fetch.to_string()
    );
    let by_alias = search::search(&dir, "serde-json", 3).expect("search");
    assert_eq!(by_alias[0].index, json.to_string());
    assert!(by_alias[0].exact);
    // Filters: what one curator admits; one publisher.
    let admitted = search::search(&dir, &format!("curator:{community}"), 10).expect("search");
    assert_eq!(names(&admitted).len(), 2);
    assert!(
        admitted
            .iter()
            .all(|h| h.curators.contains(&community.to_string()))
    );
    let by = search::search(&dir, &format!("client publisher:{}", alice.id()), 10).expect("search");
    assert_eq!(names(&by), vec![fetch.to_string().as_str()]);

    // With no root named, inclusion counts for nobody: the spam ring's curating of itself
    // buys nothing, and neither does an honest curator nobody trusts yet.
    let none = search::standings(
        &cairn_core::catalog::packages(&Home::open(&dir).expect("home")).expect("packages"),
        &cairn_core::catalog::curated(&Home::open(&dir).expect("home")).expect("curated"),
        &[],
        T,
    );
    assert!(none.values().all(|s| s.inclusion == 0.0));

    // Rebuilding gives the same answers; limits are enforced.
    search::reindex(&dir, None, T + 86_400).expect("again");
    assert_eq!(
        names(&search::search(&dir, "http client", 10).expect("search")),
        names(&hits)
    );
    assert!(search::search(&dir, "x", 0).is_err());
    assert!(search::search(&dir, &"x".repeat(search::MAX_QUERY + 1), 1).is_err());
    // A stray quote is a word, not an error.
    assert!(search::search(&dir, "\"http", 5).is_ok());
}

#[test]
fn the_binary_reindexes_and_searches() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("home");
    let mut home = Home::open(&dir).expect("home");
    let (alice, cora) = (Person::new(1), Person::new(3));
    create_in(&alice, &mut home);
    create_in(&cora, &mut home);
    publish(
        &mut home,
        &alice,
        tmp.path(),
        "fetch",
        "An HTTP client.",
        "\"http\"",
    );
    let fetch = alice.index("fetch");
    let community = curate(&mut home, &cora, "community", &[("fetch", &fetch)]);
    drop(home);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn-indexer"))
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let home = dir.to_str().expect("utf-8");
    let (code, _, err) = run(&["search", "--home", home, "http"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cairn-indexer reindex"), "{err}");
    let (code, _, err) = run(&["reindex", "--home", home, "--root", "not-an-index"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not a package index"), "{err}");
    let (code, out, _) = run(&["reindex", "--home", home, "--root", &community.to_string()]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("indexed 1 packages and 1 curated indexes"),
        "{out}"
    );
    let (code, out, _) = run(&["search", "--home", home, "http", "--json"]);
    assert_eq!(code, Some(0));
    let hits: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(hits[0]["index"], fetch.to_string());
    assert_eq!(hits[0]["curators"][0], community.to_string());
    let (_, out, _) = run(&["search", "--home", home, "http"]);
    assert!(out.contains(&format!("curated by {community}")), "{out}");
}

#[test]
fn a_limits_file_is_read_checked_and_applied() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = env!("CARGO_BIN_EXE_cairn-indexer");
    // The printed file is every limit at its default.
    let out = std::process::Command::new(bin)
        .arg("config")
        .output()
        .expect("run");
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        cairn_indexer::limits::Limits::parse(&printed, "printed").expect("parses"),
        cairn_indexer::limits::Limits::default()
    );
    // A bad file stops the node before it starts, naming the key and the range.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[network]\nqueue = 0\n").expect("write");
    let home = tmp.path().join("home");
    let run_with = |config: &Path| {
        let mut c = std::process::Command::new(bin);
        c.args(["run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--home")
            .arg(&home)
            .arg("--config")
            .arg(config);
        c
    };
    let out = run_with(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`network.queue` is 0") && err.contains("bad.toml"),
        "{err}"
    );
    // A good one is applied: two requests per client, then 429.
    let good = tmp.path().join("limits.toml");
    std::fs::write(&good, "[http]\nrate = 0.01\nburst = 2\n").expect("write");
    let mut child = run_with(&good)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cairn-indexer starts");
    // Its log is read to the end (a closed pipe would fail its next line), and the address
    // it serves on is taken from it.
    let stderr = child.stderr.take().expect("stderr");
    let (found, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line
                .split("serving http://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            {
                let _ = found.send(addr);
            }
        }
    });
    let addr = served
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("it says where it serves");
    let statuses: Vec<u16> = (0..3)
        .map(|_| common::get(addr, "/health", "*/*").0)
        .collect();
    let (_, _, body) = common::get(addr, "/health", "*/*");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, [200, 200, 429]);
    assert!(
        String::from_utf8_lossy(&body).contains("bursts of 2"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// Every hit of `query`: its index, latest version, status, curators and score.
fn answers(dir: &Path, query: &str) -> Vec<String> {
    search::search(dir, query, 100)
        .expect("search")
        .iter()
        .map(|h| {
            format!(
                "{} {:?} {} {:?} {:.6}",
                h.index, h.latest, h.status, h.curators, h.score
            )
        })
        .collect()
}

#[test]
fn an_update_in_place_answers_as_a_full_rebuild_would() {
    let (tmp, dir, mut home, [alice, bob, cora]) = three_people();
    publish(
        &mut home,
        &alice,
        tmp.path(),
        "fetch",
        "An HTTP client.",
        "\"http\"",
    );
    publish(
        &mut home,
        &bob,
        tmp.path(),
        "json",
        "JSON for fetch.",
        "\"json\"",
    );
    let community = curate(
        &mut home,
        &cora,
        "community",
        &[
            ("fetch", &alice.index("fetch")),
            ("json", &bob.index("json")),
        ],
    );
    drop(home);
    search::reindex(&dir, Some(&[community.to_string()]), T).expect("reindex");
    let update = || search::update(&dir, T).expect("update");
    assert_eq!(
        (update().rebuilt, update().written),
        (false, 0),
        "nothing changed"
    );

    // A version index no curated index admits: its document alone is written.
    let mut home = Home::open(&dir).expect("home");
    publish(
        &mut home,
        &bob,
        tmp.path(),
        "newcomer",
        "An HTTP newcomer.",
        "\"http\"",
    );
    drop(home);
    let done = update();
    assert_eq!((done.rebuilt, done.written, done.indexed), (false, 1, 3));
    // A new release of an admitted package that now depends on another: the admitted
    // packages' documents are written (one of them gains a dependent).
    let mut home = Home::open(&dir).expect("home");
    let work = tmp.path().join("fetch-2");
    std::fs::create_dir_all(&work).expect("dir");
    std::fs::write(
        work.join("cairn.toml"),
        "[package]\nname = \"fetch\"\nversion = \"2.0.0\"\ndescription = \"An HTTP client.\"\nkeywords = [\"http\"]\nlicense = \"MIT\"\n\n[dependencies]\njson = \"^1\"\n",
    )
    .expect("manifest");
    std::fs::write(work.join("lib.txt"), "fetch 2").expect("source");
    publish_dir(&mut home, &alice, &work, T + 10);
    drop(home);
    let done = update();
    assert_eq!((done.rebuilt, done.written), (false, 2));
    let queries = [
        "http",
        "json",
        "fetch",
        &format!("curator:{community}"),
        "newcomer",
    ];
    let in_place: Vec<Vec<String>> = queries.iter().map(|q| answers(&dir, q)).collect();
    assert!(in_place[0][0].contains("\"2.0.0\""), "{:?}", in_place[0]);
    search::reindex(&dir, None, T).expect("reindex");
    let rebuilt: Vec<Vec<String>> = queries.iter().map(|q| answers(&dir, q)).collect();
    assert_eq!(in_place, rebuilt, "the same answers, scores included");

    // A curation change ranks across packages: rebuilt whole.
    let mut home = Home::open(&dir).expect("home");
    curate(
        &mut home,
        &cora,
        "more",
        &[("newcomer", &bob.index("newcomer"))],
    );
    drop(home);
    assert!(update().rebuilt);
}

/// A version index's catalog entry: `name` 1.0.0 by `publisher`, licensed, with no dependencies.
fn package(
    publisher: String,
    name: &str,
    about: &str,
    keywords: &[&str],
) -> cairn_core::catalog::Package {
    cairn_core::catalog::Package {
        index: format!("{publisher}:{name}"),
        name: name.to_owned(),
        publisher,
        latest: Some("1.0.0".into()),
        description: Some(about.to_owned()),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        licensed: true,
        dependencies: Vec::new(),
        time: T,
        yanked: false,
        forked: false,
    }
}

#[test]
fn ten_thousand_throwaway_identities_rank_below_one_curated_package() {
    use cairn_core::catalog::{Curated, Package};
    let tmp = tempfile::tempdir().expect("tmp");
    let id = |n: u32| {
        cairn_protocol::identity::IdentityId::from_digest(
            *blake3::hash(&n.to_be_bytes()).as_bytes(),
        )
        .to_string()
    };
    // Ten thousand throwaway identities: each publishes a keyword-stuffed copy and curates it
    // with the next one's, and their curated indexes include each other in a ring.
    let spam_count: u32 = 10_000;
    let mut packages: Vec<Package> = (0..spam_count)
        .map(|n| {
            package(
                id(n),
                "http-client",
                "http client http client http client best fastest",
                &["http", "client", "fetch"],
            )
        })
        .collect();
    let mut curated: Vec<Curated> = (0..spam_count)
        .map(|n| Curated {
            index: format!("{}:picks", id(n)),
            aliases: vec![
                ("http-client".into(), format!("{}:http-client", id(n))),
                (
                    "other".into(),
                    format!("{}:http-client", id((n + 1) % spam_count)),
                ),
            ],
            includes: vec![format!("{}:picks", id((n + 1) % spam_count))],
        })
        .collect();
    // One honest package, admitted by the one curator the operator trusts.
    let honest = package(id(spam_count + 1), "fetch", "An HTTP client.", &["http"]);
    let community = Curated {
        index: format!("{}:community", id(spam_count + 2)),
        aliases: vec![("fetch".into(), honest.index.clone())],
        includes: Vec::new(),
    };
    packages.push(honest.clone());
    curated.push(community.clone());
    let dir = tmp.path().join("home");
    search::build(
        &dir.join(search::DIR),
        &packages,
        &curated,
        std::slice::from_ref(&community.index),
        T,
    )
    .expect("build");
    let hits = search::search(&dir, "http client", 10).expect("search");
    assert_eq!(hits[0].index, honest.index, "{:?}", names(&hits));
    assert!(hits[1..].iter().all(|h| h.name == "http-client"));
    assert_eq!(hits.len(), 10);
    let standings = search::standings(
        &packages,
        &curated,
        std::slice::from_ref(&community.index),
        T,
    );
    assert!(
        standings
            .iter()
            .filter(|(index, _)| **index != honest.index)
            .all(|(_, s)| s.inclusion == 0.0),
        "ten thousand curators nobody trusts add nothing"
    );
}

#[test]
fn a_trusted_package_is_scored_as_every_package_would_score_it() {
    use cairn_core::catalog::{Curated, Package};
    use tantivy::schema::Value as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let package = |n: usize, about: &str, keywords: &[&str]| {
        package(format!("b{n:052x}"), &format!("pkg{n}"), about, keywords)
    };
    // Many packages use the words; three are trusted, with descriptions of other lengths, so
    // that statistics taken over the trusted packages alone would rank and score them
    // otherwise.
    let mut packages: Vec<Package> = (0..200)
        .map(|n| match n % 4 {
            0 => package(n, "an async runtime", &["async"]),
            1 => package(n, "a runtime for tasks and timers", &[]),
            2 => package(n, "bindings to a C library", &["ffi"]),
            _ => package(n, "async io", &["io", "runtime"]),
        })
        .collect();
    packages.push(package(900, "async", &["runtime"]));
    packages.push(package(
        901,
        "a runtime with a long description of many words about scheduling threads",
        &["async", "tasks"],
    ));
    packages.push(package(902, "async runtime async runtime", &[]));
    let trusted = Curated {
        index: format!("b{:052x}:community", 999),
        aliases: (900..903)
            .map(|n| (format!("rt{n}"), packages[n - 700].index.clone()))
            .collect(),
        includes: Vec::new(),
    };
    let dir = tmp.path().join("home");
    search::build(
        &dir.join(search::DIR),
        &packages,
        std::slice::from_ref(&trusted),
        std::slice::from_ref(&trusted.index),
        T,
    )
    .expect("build");
    let hits = search::search(&dir, "async runtime", 10).expect("search");
    let tier: Vec<&Hit> = hits.iter().filter(|h| h.trusted).collect();
    assert_eq!(tier.len(), 3, "{:?}", names(&hits));

    // The same words over every package's own fields, weighted as search weighs them.
    let index = tantivy::Index::open_in_dir(dir.join(search::DIR)).expect("open");
    let searcher = index.reader().expect("reader").searcher();
    let schema = index.schema();
    let field = |f: &str| schema.get_field(f).expect("field");
    let mut parser = tantivy::query::QueryParser::for_index(
        &index,
        vec![
            field("name"),
            field("aliases"),
            field("keywords"),
            field("description"),
        ],
    );
    parser.set_field_boost(field("name"), 3.0);
    parser.set_field_boost(field("aliases"), 2.0);
    parser.set_field_boost(field("keywords"), 1.5);
    let query = parser.parse_query("async runtime").expect("query");
    let top = searcher
        .search(
            &query,
            &tantivy::collector::TopDocs::with_limit(300).order_by_score(),
        )
        .expect("search");
    for h in tier {
        let everywhere = top
            .iter()
            .find_map(|(score, addr)| {
                let d: tantivy::TantivyDocument = searcher.doc(*addr).ok()?;
                (d.get_first(field("index"))?.as_str()? == h.index).then_some(*score)
            })
            .expect("found by the bare query");
        assert!(
            (h.relevance - everywhere).abs() <= everywhere * 1e-5,
            "{}: relevance {} in the trusted tier, {everywhere} over every package",
            h.index,
            h.relevance
        );
    }
}

#[test]
fn an_index_built_with_other_fields_is_named_and_rebuilt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("home");
    let old = dir.join(search::DIR);
    std::fs::create_dir_all(&old).expect("dir");
    let mut schema = tantivy::schema::Schema::builder();
    schema.add_text_field("name", tantivy::schema::TEXT);
    tantivy::Index::create_in_dir(&old, schema.build()).expect("an older index");
    let e = search::search(&dir, "anything", 10).expect_err("other fields");
    assert!(
        matches!(e, search::SearchError::Outdated(_)) && e.to_string().contains("reindex"),
        "{e}"
    );
    let updated = search::update(&dir, T).expect("update");
    assert!(updated.rebuilt);
    assert!(
        search::search(&dir, "anything", 10)
            .expect("rebuilt")
            .is_empty()
    );
}
