//! The web page in a real browser: Debian's Chromium, headless, driven over `WebDriver`
//! (`chromedriver`) against a running indexing node. The search form is filled in and
//! submitted; the package page shows a yanked release and the fork warning. Screenshots are
//! written to `target/screenshots/`.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` and sets `CAIRN_REQUIRE_BROWSER=1`, so
//! there a missing browser fails the test. Elsewhere, without `chromedriver` on the `PATH`, the
//! test says so on stderr and checks nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_core::home::Home;
use cairn_core::testing::{Person, T, create_in};
use cairn_indexer::node::{Config, Indexer};
use serde_json::{Value, json};

mod common;

use common::{publish_fetchy, publisher, yank};

/// The W3C `WebDriver` element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `WebDriver` session on a `chromedriver` child process (killed on drop).
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    fn start(chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("chromium");
        let created = b.call(
            "POST",
            "/session",
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": binary,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1200,900",
                             "--no-proxy-server", "--disable-background-networking"]
                }
            }}}),
        );
        created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .clone_into(&mut b.session);
        b
    }

    /// One `WebDriver` command; its `value`.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let (status, _, out) = common::request(
            self.addr,
            method,
            path,
            "application/json",
            (method == "POST").then_some(body.as_str()),
        );
        let v: Value = serde_json::from_slice(&out).expect("WebDriver answers JSON");
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn session(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.session("/url"), &json!({ "url": url }));
    }

    /// The elements matching a CSS selector.
    fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.call(
            "POST",
            &self.session("/elements"),
            &json!({"using": "css selector", "value": css}),
        );
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn find(&self, css: &str) -> String {
        self.find_all(css).into_iter().next().unwrap_or_else(|| {
            let source = self.call("GET", &self.session("/source"), &Value::Null);
            panic!("no element `{css}` on the page:\n{source}")
        })
    }

    fn text(&self, element: &str) -> String {
        self.call(
            "GET",
            &self.session(&format!("/element/{element}/text")),
            &Value::Null,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn screenshot(&self, to: &Path) {
        let png = self.call("GET", &self.session("/screenshot"), &Value::Null);
        let bytes = decode_base64(png.as_str().expect("base64"));
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dir");
        std::fs::write(to, bytes).expect("screenshot written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = common::request(
                self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                "*/*",
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshot's encoding).
fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for quad in clean.chunks(4) {
        let data: Vec<u8> = quad.iter().copied().filter(|c| *c != b'=').collect();
        let n = data
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | (value(*c) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..data.len()]);
    }
    out
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("screenshots")
}

/// An indexer's home holding a curated package with a yanked release and fork evidence.
fn indexer_home(tmp: &Path) -> (PathBuf, String) {
    let (pub_dir, alice, fetchy, _) = publisher(tmp);
    let mut pub_home = Home::open(&pub_dir).expect("home");
    yank(&mut pub_home, &alice, &fetchy, "1.0.0", T + 5);
    let log = fetchy.to_string();
    let mut twin = Home::open(&tmp.join("twin")).expect("home");
    let bundle = cairn_core::exchange::export(&pub_home, &log).expect("export");
    cairn_core::exchange::import(&mut twin, std::io::Cursor::new(bundle)).expect("import");
    create_in(&alice, &mut twin);
    publish_fetchy(&mut pub_home, &alice, &tmp.join("one"), "1.2.0", T + 10);
    publish_fetchy(&mut twin, &alice, &tmp.join("two"), "1.3.0", T + 10);
    let dir = tmp.join("indexer");
    let mut home = Home::open(&dir).expect("home");
    for from in [&pub_home, &twin] {
        for l in [log.clone(), format!("{}:community", Person::new(3).id())] {
            if from.head(&l).expect("head").is_some() {
                let b = cairn_core::exchange::export(from, &l).expect("export");
                cairn_core::exchange::import(&mut home, std::io::Cursor::new(b)).expect("import");
            }
        }
    }
    assert_eq!(
        home.forks(&log).expect("forks").len(),
        1,
        "the fork is held"
    );
    (dir, log)
}

#[test]
fn the_search_form_and_a_package_page_in_chromium() {
    let Some(driver) = chromedriver() else {
        assert!(
            std::env::var_os("CAIRN_REQUIRE_BROWSER").is_none(),
            "CAIRN_REQUIRE_BROWSER is set but `chromedriver` is not on the PATH; install Debian's `chromium` and `chromium-driver`"
        );
        eprintln!(
            "note: no `chromedriver` on the PATH, so the browser test checked nothing; install Debian's `chromium` and `chromium-driver` to run it"
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, log) = indexer_home(tmp.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let indexer = rt
        .block_on(Indexer::start(Config::loopback(&dir, Vec::new())))
        .expect("indexer");
    let http = indexer.http_addr().expect("http");
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::json(&common::get(http, "/health", "*/*").2)["search"] != true {
        assert!(Instant::now() < deadline, "the search index was not built");
        std::thread::sleep(Duration::from_millis(100));
    }

    let b = Browser::start(&driver);
    b.go(&format!("http://{http}/"));
    let q = b.find("input[name=q]");
    b.call(
        "POST",
        &b.session(&format!("/element/{q}/value")),
        &json!({ "text": "http client" }),
    );
    let go = b.find("#go");
    b.call(
        "POST",
        &b.session(&format!("/element/{go}/click")),
        &json!({}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.find_all("#results, #none").is_empty() {
        assert!(Instant::now() < deadline, "the form led nowhere");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = b.call("GET", &b.session("/url"), &Value::Null);
    assert!(
        url.as_str()
            .is_some_and(|u| u.contains("/search?q=http+client")),
        "{url}"
    );
    let results: Vec<String> = b
        .find_all("#results li.result")
        .iter()
        .map(|e| b.text(e))
        .collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].starts_with("fetchy 1.2.0"), "{results:?}");
    assert!(results[0].contains("forked"), "{results:?}");
    assert!(results[0].contains(":community"), "curated by: {results:?}");
    b.screenshot(&screenshots().join("search.png"));

    // Follow the result to the package page.
    let link = b.find("#results a.package");
    b.call(
        "POST",
        &b.session(&format!("/element/{link}/click")),
        &json!({}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.find_all("#releases").is_empty() {
        assert!(Instant::now() < deadline, "the package page did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    let warning = b.text(&b.find("#fork-warning"));
    assert!(warning.starts_with("Fork warning"), "{warning}");
    let yanked = b.text(&b.find("tr.release[data-version=\"1.0.0\"]"));
    assert!(yanked.contains("yanked"), "{yanked}");
    assert!(yanked.contains("broken TLS"), "{yanked}");
    let current = b.text(&b.find("tr.release[data-version=\"1.2.0\"]"));
    assert!(!current.contains("yanked"), "{current}");
    let curators = b.text(&b.find("#curators"));
    assert!(curators.contains(":community as fetch"), "{curators}");
    b.screenshot(&screenshots().join("package.png"));
    drop(b);
    assert!(log.ends_with(":fetchy"));
    rt.block_on(indexer.shutdown());
}
