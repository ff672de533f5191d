//! Search over what a home holds: a tantivy index derived from the store, rebuilt whole by
//! [`reindex`] (it holds nothing the store does not), kept up to date in place by [`update`],
//! and ranked by [`search`].
//!
//! Ranking: a package whose name, or an alias a curator gives it, is exactly the query comes
//! first; then the packages a trusted curator admits; within each, text relevance (BM25 over
//! name, aliases, keywords and description) times `1 + score`, where the score is built only
//! from signals that new identities cannot buy:
//!
//! - **inclusion**: the curated indexes that admit the package, each weighted by
//!   `1 + the trusted curated indexes that include it`. Only *trusted* curated indexes count:
//!   the roots the operator names and the package indexes they include, transitively. A
//!   thousand throwaway curators that admit each other's packages count for nothing until a
//!   trusted curator includes one of them;
//! - **reverse dependencies**: packages admitted by a trusted curator whose latest release
//!   depends on this one under that curator's aliases;
//! - **recency** of the head revision, and **completeness** of the latest release's metadata
//!   (description, keywords, license);
//! - a fork or a flagged maintainer on record divides the score by ten.
//!
//! Download counts are never a signal: they are bought as easily as identities. Trusted
//! curation ranks before relevance because relevance itself is cheap: a thousand copies that
//! repeat the query in their names and descriptions outscore any honest description, and make
//! its words common enough that they weigh little.

// Scores are approximate by nature: counts and ages far below 2^52 become floats.
#![allow(clippy::cast_precision_loss)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use cairn_core::catalog::{self, Curated, Package};
use cairn_core::home::Home;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, Occur, Query, QueryParser, TermQuery,
};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value as _};
use tantivy::{Index, IndexReader, TantivyDocument, Term, doc};

/// The search index's directory inside a home.
pub const DIR: &str = "search";
/// The file naming the trusted roots, one package index per line.
pub const ROOTS: &str = "search-roots";
/// The longest query taken.
pub const MAX_QUERY: usize = cairn_protocol::wire::MAX_SEARCH_QUERY;
/// The most results one search returns.
pub const MAX_LIMIT: usize = 100;
/// Documents added between two commits of a rebuild.
const BATCH: usize = 10_000;

/// Why a search or a rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query breaks a rule.
    #[error("the query {0}")]
    Query(String),
    /// The home cannot be read.
    #[error(transparent)]
    Home(#[from] cairn_core::home::HomeError),
    /// The store cannot be read.
    #[error(transparent)]
    Store(#[from] cairn_core::store::StoreError),
    /// A curated index cannot be read.
    #[error(transparent)]
    Curate(Box<cairn_core::curate::CurateError>),
    /// The search index failed.
    #[error("the search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A file operation failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        cause: std::io::Error,
    },
    /// No search index yet.
    #[error("no search index in `{0}`\n\nhint: build it with `cairn-indexer reindex --home DIR`")]
    Missing(PathBuf),
    /// The search index was built with other fields (by another version).
    #[error(
        "the search index in `{0}` was built by another version of cairn-indexer\n\nhint: rebuild it with `cairn-indexer reindex --home DIR` (a running node rebuilds it by itself)"
    )]
    Outdated(PathBuf),
}

impl From<cairn_core::curate::CurateError> for SearchError {
    fn from(e: cairn_core::curate::CurateError) -> SearchError {
        SearchError::Curate(Box::new(e))
    }
}

/// The fields of a document.
struct Fields {
    index: Field,
    name: Field,
    exact: Field,
    aliases: Field,
    keywords: Field,
    description: Field,
    publisher: Field,
    curator: Field,
    status: Field,
    latest: Field,
    score: Field,
    inclusion: Field,
    trusted: Field,
    /// The words of a package a trusted curator admits, again (name, aliases, keywords,
    /// description): the trusted tier's query reads postings of trusted packages only.
    trusted_text: [Field; 4],
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        index: b.add_text_field("index", STRING | STORED),
        name: b.add_text_field("name", TEXT | STORED),
        exact: b.add_text_field("exact", STRING),
        aliases: b.add_text_field("aliases", TEXT | STORED),
        keywords: b.add_text_field("keywords", TEXT | STORED),
        description: b.add_text_field("description", TEXT | STORED),
        publisher: b.add_text_field("publisher", STRING | STORED),
        curator: b.add_text_field("curator", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        latest: b.add_text_field("latest", STORED),
        score: b.add_f64_field("score", STORED | FAST),
        inclusion: b.add_f64_field("inclusion", STORED | FAST),
        trusted: b.add_text_field("trusted", STRING),
        trusted_text: ["name", "aliases", "keywords", "description"]
            .map(|f| b.add_text_field(&format!("trusted_{f}"), TEXT)),
    };
    (b.build(), fields)
}

/// What one package scores, and who admits it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Standing {
    /// The score (see the module documentation).
    pub score: f64,
    /// Weighted inclusion by trusted curators.
    pub inclusion: f64,
    /// Reverse dependencies within trusted curated indexes.
    pub dependents: usize,
    /// Every curated index that admits it (trusted or not), with the alias it gives.
    pub curators: BTreeMap<String, String>,
}

/// The trusted curated indexes: `roots` and what they include, transitively, each with its
/// weight (`1 +` the trusted indexes that include it).
fn trusted(curated: &[Curated], roots: &[String]) -> BTreeMap<String, f64> {
    let by_name: BTreeMap<&str, &Curated> = curated.iter().map(|c| (c.index.as_str(), c)).collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = roots.iter().map(String::as_str).collect();
    while let Some(next) = queue.pop_front() {
        if let Some(c) = by_name.get(next)
            && seen.insert(c.index.as_str())
        {
            queue.extend(c.includes.iter().map(String::as_str));
        }
    }
    let mut weights: BTreeMap<String, f64> = seen.iter().map(|s| ((*s).to_owned(), 1.0)).collect();
    for c in curated.iter().filter(|c| seen.contains(c.index.as_str())) {
        for inc in &c.includes {
            if let Some(w) = weights.get_mut(inc) {
                *w += 1.0;
            }
        }
    }
    weights
}

/// Every package's standing, at time `now` (Unix seconds).
#[must_use]
pub fn standings(
    packages: &[Package],
    curated: &[Curated],
    roots: &[String],
    now: u64,
) -> BTreeMap<String, Standing> {
    let weights = trusted(curated, roots);
    let mut out: BTreeMap<String, Standing> = packages
        .iter()
        .map(|p| (p.index.clone(), Standing::default()))
        .collect();
    let deps: BTreeMap<&str, &Vec<String>> = packages
        .iter()
        .map(|p| (p.index.as_str(), &p.dependencies))
        .collect();
    let mut dependents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in curated {
        let weight = weights.get(&c.index).copied();
        let mapping: BTreeMap<&str, &str> = c
            .aliases
            .iter()
            .map(|(a, t)| (a.as_str(), t.as_str()))
            .collect();
        for (alias, target) in &c.aliases {
            let Some(s) = out.get_mut(target) else {
                continue;
            };
            s.curators.insert(c.index.clone(), alias.clone());
            let Some(w) = weight else { continue };
            s.inclusion += w;
            for d in deps.get(target.as_str()).copied().into_iter().flatten() {
                if let Some(dep) = mapping.get(d.as_str())
                    && dep != target
                {
                    dependents
                        .entry((*dep).to_owned())
                        .or_default()
                        .insert(target.clone());
                }
            }
        }
    }
    for p in packages {
        let Some(s) = out.get_mut(&p.index) else {
            continue;
        };
        s.dependents = dependents.get(&p.index).map_or(0, BTreeSet::len);
        let age_days = now.saturating_sub(p.time) as f64 / 86_400.0;
        let recency = 1.0 / (1.0 + age_days / 365.0);
        let complete = [p.description.is_some(), !p.keywords.is_empty(), p.licensed]
            .iter()
            .filter(|x| **x)
            .count() as f64
            / 3.0;
        let mut score = 2.0 * s.inclusion.ln_1p()
            + (s.dependents as f64).ln_1p()
            + 0.5 * recency
            + 0.5 * complete;
        if p.forked {
            score /= 10.0;
        }
        s.score = score;
    }
    out
}

/// The roots named in the home (`search-roots`), or none.
#[must_use]
pub fn roots(home: &Path) -> Vec<String> {
    std::fs::read_to_string(home.join(ROOTS))
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    /// Packages indexed.
    pub packages: usize,
    /// Curated indexes read.
    pub curated: usize,
    /// Trusted roots.
    pub roots: Vec<String>,
}

/// Rebuilds the home's search index from its store, with `roots` as the trusted curators
/// (`None`: those named in `search-roots`; given ones replace them there). The new index is
/// built beside the old one and takes its place whole, so a search never sees half of it.
///
/// # Errors
/// When the store cannot be read or the index cannot be written.
pub fn reindex(
    home_dir: &Path,
    roots: Option<&[String]>,
    now: u64,
) -> Result<Rebuilt, SearchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| SearchError::Io { path, cause }
    };
    if let Some(given) = roots {
        let path = home_dir.join(ROOTS);
        cairn_core::atomic::write(
            &path,
            given.join("\n").as_bytes(),
            cairn_core::atomic::Access::Public,
            "search-roots:after-temp-write",
        )
        .map_err(io(&path))?;
    }
    let roots = self::roots(home_dir);
    let home = Home::open(home_dir)?;
    // Read first: a revision stored meanwhile is then newer than what is recorded, and the
    // next update rewrites its document.
    let built = Built::now(&home, &roots)?;
    let packages = catalog::packages(&home)?;
    let curated = catalog::curated(&home)?;
    drop(home);
    let fresh = home_dir.join(format!("{DIR}.new"));
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).map_err(io(&fresh))?;
    }
    build(&fresh, &packages, &curated, &roots, now)?;
    built.write(&fresh)?;
    let live = home_dir.join(DIR);
    let old = home_dir.join(format!("{DIR}.old"));
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if live.exists() {
        std::fs::rename(&live, &old).map_err(io(&live))?;
    }
    std::fs::rename(&fresh, &live).map_err(io(&fresh))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(Rebuilt {
        packages: packages.len(),
        curated: curated.len(),
        roots,
    })
}

/// Writes a search index of `packages` into the empty or missing directory `dir`, ranked with
/// `curated` and the trusted `roots` at time `now` (what [`reindex`] does before the swap;
/// benchmarks call it with synthetic packages).
///
/// # Errors
/// When the index cannot be written.
pub fn build(
    dir: &Path,
    packages: &[Package],
    curated: &[Curated],
    roots: &[String],
    now: u64,
) -> Result<(), SearchError> {
    let standings = standings(packages, curated, roots, now);
    std::fs::create_dir_all(dir).map_err(|cause| SearchError::Io {
        path: dir.to_path_buf(),
        cause,
    })?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    let mut writer = index.writer_with_num_threads(1, 50_000_000)?;
    for (i, p) in packages.iter().enumerate() {
        let s = standings.get(&p.index).cloned().unwrap_or_default();
        writer.add_document(document(&f, p, &s))?;
        if (i + 1) % BATCH == 0 {
            writer.commit()?;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// A package's search document.
fn document(f: &Fields, p: &Package, s: &Standing) -> TantivyDocument {
    let mut d = doc!(
        f.index => p.index.as_str(),
        f.name => p.name.as_str(),
        f.exact => p.name.to_lowercase(),
        f.keywords => p.keywords.join(" "),
        f.description => p.description.clone().unwrap_or_default(),
        f.publisher => p.publisher.as_str(),
        f.status => if p.forked { "forked" } else if p.yanked { "yanked" } else { "active" },
        f.latest => p.latest.clone().unwrap_or_default(),
        f.score => s.score,
        f.inclusion => s.inclusion,
    );
    let trusted = s.inclusion > 0.0;
    if trusted {
        let [name, _, keywords, description] = f.trusted_text;
        d.add_text(f.trusted, "1");
        d.add_text(name, p.name.as_str());
        d.add_text(keywords, p.keywords.join(" "));
        d.add_text(description, p.description.as_deref().unwrap_or_default());
    }
    for (curator, alias) in &s.curators {
        d.add_text(f.curator, curator);
        d.add_text(f.aliases, alias);
        d.add_text(f.exact, alias.to_lowercase());
        if trusted {
            d.add_text(f.trusted_text[1], alias);
        }
    }
    d
}

/// What a search index was built from, kept beside it (`built.json`): each version index's
/// seq, and a digest of everything that ranks across packages (package-index heads, forks,
/// roots). A change to the latter rebuilds all; a change to a version index rewrites its
/// document (and, when a curated index admits it, those of the packages curated indexes
/// admit, whose reverse dependencies it may change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
struct Built {
    curation: String,
    versions: BTreeMap<String, u64>,
}

const BUILT: &str = "built.json";

impl Built {
    /// What the home holds now, with `roots`.
    fn now(home: &Home, roots: &[String]) -> Result<Built, SearchError> {
        let mut digest = blake3::Hasher::new();
        let mut versions = BTreeMap::new();
        for (log, seq, payload, kind) in home.heads()? {
            if kind == "version-index" {
                versions.insert(log, seq);
            } else if kind == "package-index" {
                digest.update(log.as_bytes());
                digest.update(&seq.to_be_bytes());
                digest.update(&payload.to_bytes());
            }
        }
        for (log, seq, _) in home.fork_list()? {
            digest.update(b"fork");
            digest.update(log.as_bytes());
            digest.update(&seq.to_be_bytes());
        }
        for r in roots {
            digest.update(b"root");
            digest.update(r.as_bytes());
        }
        // An index built with other fields is rebuilt whole.
        digest.update(b"schema");
        digest.update(
            serde_json::to_string(&schema().0)
                .unwrap_or_default()
                .as_bytes(),
        );
        Ok(Built {
            curation: digest.finalize().to_hex().to_string(),
            versions,
        })
    }

    fn read(dir: &Path) -> Option<Built> {
        serde_json::from_slice(&std::fs::read(dir.join(BUILT)).ok()?).ok()
    }

    fn write(&self, dir: &Path) -> Result<(), SearchError> {
        let path = dir.join(BUILT);
        let bytes = serde_json::to_vec(self).map_err(|e| SearchError::Io {
            path: path.clone(),
            cause: std::io::Error::other(e),
        })?;
        cairn_core::atomic::write(
            &path,
            &bytes,
            cairn_core::atomic::Access::Public,
            "search-built:after-temp-write",
        )
        .map_err(|cause| SearchError::Io { path, cause })
    }
}

/// What [`update`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Updated {
    /// Rebuilt whole: what ranks across packages changed, or there was no index.
    pub rebuilt: bool,
    /// Documents written (0: nothing changed).
    pub written: usize,
    /// Packages in the index now.
    pub indexed: usize,
}

/// Brings the home's search index up to date with its store at time `now`: in place when only
/// version indexes changed (their documents, and those of the packages curated indexes admit
/// when a changed one is among them), else by [`reindex`]. A search sees the index before or
/// after an update, never half of one.
///
/// # Errors
/// When the store cannot be read or the index cannot be written.
pub fn update(home_dir: &Path, now: u64) -> Result<Updated, SearchError> {
    let dir = home_dir.join(DIR);
    let roots = self::roots(home_dir);
    let home = Home::open(home_dir)?;
    let current = Built::now(&home, &roots)?;
    let built = Built::read(&dir);
    let Some(built) = built.filter(|b| b.curation == current.curation) else {
        drop(home);
        return Ok(rebuilt(reindex(home_dir, None, now)?.packages));
    };
    if built
        .versions
        .keys()
        .any(|log| !current.versions.contains_key(log))
    {
        drop(home);
        return Ok(rebuilt(reindex(home_dir, None, now)?.packages));
    }
    let changed: Vec<&String> = current
        .versions
        .iter()
        .filter(|(log, seq)| built.versions.get(*log) != Some(seq))
        .map(|(log, _)| log)
        .collect();
    if changed.is_empty() {
        return Ok(Updated {
            rebuilt: false,
            written: 0,
            indexed: current.versions.len(),
        });
    }
    let curated = catalog::curated(&home)?;
    let admitted: BTreeSet<&str> = curated
        .iter()
        .flat_map(|c| c.aliases.iter().map(|(_, target)| target.as_str()))
        .collect();
    // A package no curated index admits ranks by its own fields alone; one that is admitted
    // may change the reverse dependencies of every admitted package.
    let mut wanted: BTreeSet<&str> = changed.iter().map(|l| String::as_str(l)).collect();
    if changed.iter().any(|l| admitted.contains(String::as_str(l))) {
        wanted.extend(admitted.iter().copied());
    }
    let mut packages = Vec::new();
    for log in &wanted {
        if let Some(p) = catalog::package(&home, log)? {
            packages.push(p);
        }
    }
    drop(home);
    let standings = standings(&packages, &curated, &roots, now);
    let index = Index::open_in_dir(&dir)?;
    let (_, f) = schema();
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
    for p in &packages {
        writer.delete_term(Term::from_field_text(f.index, &p.index));
        let s = standings.get(&p.index).cloned().unwrap_or_default();
        writer.add_document(document(&f, p, &s))?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    current.write(&dir)?;
    Ok(Updated {
        rebuilt: false,
        written: packages.len(),
        indexed: current.versions.len(),
    })
}

fn rebuilt(packages: usize) -> Updated {
    Updated {
        rebuilt: true,
        written: packages,
        indexed: packages,
    }
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The version index.
    pub index: String,
    /// Its name.
    pub name: String,
    /// Its publisher.
    pub publisher: String,
    /// Its latest release.
    pub latest: String,
    /// The description.
    pub description: String,
    /// Curated indexes that admit it.
    pub curators: Vec<String>,
    /// `active`, `yanked` (every release) or `forked`.
    pub status: String,
    /// The name or an alias is the query itself.
    pub exact: bool,
    /// A trusted curator admits it.
    pub trusted: bool,
    /// The standing's score.
    pub score: f64,
    /// Text relevance (BM25; 0 for a filter-only query).
    pub relevance: f32,
}

/// One clause of a boolean query.
type Clause = (Occur, Box<dyn Query>);

/// A query's filters (`curator:`, `publisher:`, `status:`) and its words.
fn parse<'q>(f: &Fields, query: &'q str) -> (Vec<Clause>, Vec<&'q str>) {
    let mut filters: Vec<Clause> = Vec::new();
    let mut words = Vec::new();
    for token in query.split_whitespace() {
        let filter = [
            ("curator:", f.curator),
            ("publisher:", f.publisher),
            ("status:", f.status),
        ]
        .into_iter()
        .find_map(|(prefix, field)| token.strip_prefix(prefix).map(|v| (field, v)));
        match filter {
            Some((field, value)) => filters.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                )),
            )),
            None => words.push(token),
        }
    }
    (filters, words)
}

/// A stored document as a result (`folded`: the query's words, lowercased).
fn hit(f: &Fields, d: &TantivyDocument, folded: &str, relevance: f32) -> Hit {
    let text_of = |field: Field| -> String {
        d.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let name = text_of(f.name);
    let aliases: Vec<String> = d
        .get_all(f.aliases)
        .filter_map(|v| v.as_str().map(str::to_lowercase))
        .collect();
    let exact = !folded.is_empty()
        && (name.to_lowercase() == folded || aliases.iter().any(|a| a == folded));
    Hit {
        index: text_of(f.index),
        publisher: text_of(f.publisher),
        latest: text_of(f.latest),
        description: text_of(f.description),
        curators: d
            .get_all(f.curator)
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        status: text_of(f.status),
        score: d.get_first(f.score).and_then(|v| v.as_f64()).unwrap_or(0.0),
        trusted: d
            .get_first(f.inclusion)
            .and_then(|v| v.as_f64())
            .is_some_and(|i| i > 0.0),
        name,
        exact,
        relevance,
    }
}

/// Searches the home's index. The query is words, plus filters: `curator:ID:NAME` (only what
/// that curated index admits), `publisher:ID`, `status:active|yanked|forked`.
///
/// # Errors
/// When the query is too long or `limit` out of range, or there is no index.
pub fn search(home_dir: &Path, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
    if query.len() > MAX_QUERY {
        return Err(SearchError::Query(format!(
            "is {} bytes long; the limit is {MAX_QUERY}",
            query.len()
        )));
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(SearchError::Query(format!(
            "asks for {limit} results; ask for 1 to {MAX_LIMIT}"
        )));
    }
    let (index, reader) = open(home_dir)?;
    let (_, f) = schema();
    let (filters, words) = parse(&f, query);
    let text = words.join(" ");
    let folded = text.to_lowercase();
    let searcher = reader.searcher();
    // Lenient: a user's stray quote or colon is a word, not an error.
    let words = |fields| parser(&index, fields).parse_query_lenient(&text).0;
    let textual: Box<dyn Query> = if text.is_empty() {
        Box::new(AllQuery)
    } else {
        words([f.name, f.aliases, f.keywords, f.description])
    };
    let with = |q: Box<dyn Query>| -> Box<dyn Query> {
        if filters.is_empty() {
            q
        } else {
            let mut all: Vec<(Occur, Box<dyn Query>)> =
                filters.iter().map(|(o, q)| (*o, q.box_clone())).collect();
            all.push((Occur::Must, q));
            Box::new(BooleanQuery::new(all))
        }
    };
    // Exact names and aliases come first, found even when the text ranks them low.
    let mut hits = Vec::with_capacity(limit);
    let mut seen = BTreeSet::new();
    if !folded.is_empty() {
        let exact = Box::new(TermQuery::new(
            Term::from_field_text(f.exact, &folded),
            IndexRecordOption::Basic,
        ));
        for (_, addr) in
            searcher.search(&with(exact), &TopDocs::with_limit(limit).order_by_score())?
        {
            seen.insert(addr);
            let d: TantivyDocument = searcher.doc(addr)?;
            hits.push(hit(&f, &d, &folded, 0.0));
        }
        hits.sort_by(|a, b| {
            b.trusted
                .cmp(&a.trusted)
                .then(b.score.total_cmp(&a.score))
                .then(a.index.cmp(&b.index))
        });
    }
    // Then the trusted tier, then the rest: each the best candidates by text relevance (by
    // score alone for a query of filters only), reordered by relevance times `1 + score`
    // read from the fast fields. Only the documents shown are loaded. The trusted tier reads
    // the trusted packages' own copy of their words, so that it walks their postings alone,
    // scored with the statistics of every package's words (the same relevance as the
    // second tier would give).
    let words_given = !text.is_empty();
    let trusted: Box<dyn Query> = if words_given {
        words(f.trusted_text)
    } else {
        Box::new(TermQuery::new(
            Term::from_field_text(f.trusted, "1"),
            IndexRecordOption::Basic,
        ))
    };
    let mirrored = Mirrored {
        searcher: &searcher,
        fields: &f,
    };
    let candidates = (limit * 10).max(100);
    let tiers: [(Box<dyn Query>, &dyn Bm25StatisticsProvider); 2] =
        [(with(trusted), &mirrored), (with(textual), &searcher)];
    for (query, statistics) in tiers {
        if hits.len() == limit {
            break;
        }
        let found = rerank(
            &searcher,
            query.as_ref(),
            statistics,
            candidates,
            words_given,
        )?;
        for (_, relevance, addr) in found {
            if hits.len() == limit {
                break;
            }
            if seen.insert(addr) {
                let d: TantivyDocument = searcher.doc(addr)?;
                hits.push(hit(&f, &d, &folded, relevance));
            }
        }
    }
    Ok(hits)
}

/// The best `candidates` documents for `query` (by text relevance with `words`, else by
/// score), each with its rank (relevance times `1 + score`, or the score), its relevance (0
/// without words) and its address, best rank first.
fn rerank(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    statistics: &dyn Bm25StatisticsProvider,
    candidates: usize,
    words: bool,
) -> Result<Vec<(f64, f32, tantivy::DocAddress)>, SearchError> {
    let found: Vec<(f32, tantivy::DocAddress)> = if words {
        searcher.search_with_statistics_provider(
            query,
            &TopDocs::with_limit(candidates).order_by_score(),
            statistics,
        )?
    } else {
        searcher
            .search(
                query,
                &TopDocs::with_limit(candidates)
                    .order_by_fast_field::<f64>("score", tantivy::Order::Desc),
            )?
            .into_iter()
            .map(|(_, addr)| (0.0, addr))
            .collect()
    };
    let mut columns: BTreeMap<u32, tantivy::columnar::Column<f64>> = BTreeMap::new();
    let mut out = Vec::with_capacity(found.len());
    for (relevance, addr) in found {
        let column = match columns.entry(addr.segment_ord) {
            std::collections::btree_map::Entry::Occupied(c) => c.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(
                searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .f64("score")?,
            ),
        };
        let score = column.first(addr.doc_id).unwrap_or(0.0);
        let rank = if words {
            f64::from(relevance) * (1.0 + score)
        } else {
            score
        };
        out.push((rank, relevance, addr));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
    Ok(out)
}

/// A query parser over `fields` (name, aliases, keywords, description, or their trusted
/// copies), each weighted as it ranks.
fn parser(index: &Index, fields: [Field; 4]) -> QueryParser {
    let mut parser = QueryParser::for_index(index, fields.to_vec());
    for (field, boost) in fields.into_iter().zip([3.0, 2.0, 1.5, 1.0]) {
        parser.set_field_boost(field, boost);
    }
    parser
}

/// BM25 statistics for the trusted tier: a trusted field's are those of the field it
/// repeats, over every package.
struct Mirrored<'a> {
    searcher: &'a tantivy::Searcher,
    fields: &'a Fields,
}

impl Mirrored<'_> {
    /// The field that `field` repeats (itself if it repeats none).
    fn base(&self, field: Field) -> Field {
        let f = self.fields;
        f.trusted_text
            .iter()
            .zip([f.name, f.aliases, f.keywords, f.description])
            .find_map(|(t, base)| (*t == field).then_some(base))
            .unwrap_or(field)
    }
}

impl Bm25StatisticsProvider for Mirrored<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.searcher.total_num_tokens(self.base(field))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searcher.total_num_docs()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match term.value().as_str() {
            Some(text) => self
                .searcher
                .doc_freq(&Term::from_field_text(self.base(term.field()), text)),
            None => self.searcher.doc_freq(term),
        }
    }
}

/// Readers kept open, by search directory, with the `meta.json` they were opened on (a
/// rebuild swaps the directory whole, which changes it, and the reader is opened again).
type Readers =
    std::sync::Mutex<BTreeMap<PathBuf, (std::time::SystemTime, u64, Index, IndexReader)>>;

static READERS: std::sync::OnceLock<Readers> = std::sync::OnceLock::new();

/// The home's search index and a reader, opened once while the index stays the same.
fn open(home_dir: &Path) -> Result<(Index, IndexReader), SearchError> {
    let dir = home_dir.join(DIR);
    let meta = std::fs::metadata(dir.join("meta.json"))
        .map_err(|_| SearchError::Missing(home_dir.to_path_buf()))?;
    let stamp = (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len());
    let readers = READERS.get_or_init(Readers::default);
    if let Ok(open) = readers.lock()
        && let Some((modified, len, index, reader)) = open.get(&dir)
        && (*modified, *len) == stamp
    {
        return Ok((index.clone(), reader.clone()));
    }
    let index = Index::open_in_dir(&dir)?;
    if index.schema() != schema().0 {
        return Err(SearchError::Outdated(home_dir.to_path_buf()));
    }
    let reader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()?;
    if let Ok(mut open) = readers.lock() {
        if open.len() >= 64 {
            open.clear();
        }
        open.insert(dir, (stamp.0, stamp.1, index.clone(), reader.clone()));
    }
    Ok((index, reader))
}
