//! The web page for people: server-rendered HTML with its style inline, no scripts and no
//! external assets, so it works in any browser, with scripts off, and offline.
//!
//! `/` and `/search?q=` (a GET form), `/package/{index}` (releases with yanks, deprecations and
//! advisories; maintainers; dependencies; the curators that admit it; a fork warning),
//! `/curator/{index}` and `/identity/{id}`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cairn_protocol::identity::IdentityId;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::{AppState, index_name, read, run_search};
use crate::search::Hit;
use crate::views::{self, PackageView};

type Shared = State<Arc<AppState>>;

/// The page's routes.
pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/", get(home_page))
        .route("/search", get(search_page))
        .route("/package/{index}", get(package_page))
        .route("/curator/{index}", get(curator_page))
        .route("/identity/{id}", get(identity_page))
}

/// Escapes text for HTML (element content and quoted attribute values).
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a URL path segment.
fn url(s: &str) -> String {
    crate::client::encode(s)
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
a{color:#0b5394}code,.id{font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all}\
.warn{background:#fde8e8;border:1px solid #c00;padding:.5rem 1rem;border-radius:4px}\
.tag{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.85em;margin-left:.3rem}\
.yanked{background:#fde8e8;color:#900}.deprecated{background:#fff4d6;color:#7a5a00}\
.forked{background:#c00;color:#fff}.curated{background:#e4f2e7;color:#1d5e2c}\
li{margin:.4rem 0}input[type=search]{width:70%;font-size:1rem;padding:.3rem}\
table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #ddd}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} · Cairn index</title><style>{STYLE}</style></head><body>\
<header><a href=\"/\"><strong>Cairn index</strong></a></header><main>{body}</main></body></html>",
        escape(title)
    ))
}

fn form(q: &str) -> String {
    format!(
        "<form action=\"/search\" method=\"get\" role=\"search\">\
<input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" placeholder=\"name, alias, keyword; curator:ID:NAME publisher:ID status:yanked\" maxlength=\"256\">\
<button type=\"submit\" id=\"go\">Search</button></form>",
        escape(q)
    )
}

/// An error as a page, with its status.
fn error_page(e: &AppError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        page(
            "Error",
            &format!("{}<p class=\"warn\">{}</p>", form(""), escape(&e.detail)),
        ),
    )
        .into_response()
}

async fn home_page() -> Html<String> {
    page(
        "Search",
        &format!(
            "<h1>Search packages</h1>{}<p>Results are ranked by exact name or alias, then by \
what curators include them. Every record shown here was verified against its publisher's \
signature.</p>",
            form("")
        ),
    )
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
}

async fn search_page(State(state): Shared, Query(p): Query<SearchParams>) -> Response {
    let q = p.q.unwrap_or_default();
    match run_search(&state, q.clone(), 50).await {
        Ok(hits) => page(&format!("{q} - search"), &results(&q, &hits)).into_response(),
        Err(e) => error_page(&e),
    }
}

fn status_tag(status: &str) -> String {
    match status {
        "active" => String::new(),
        s => format!(" <span class=\"tag {s}\">{s}</span>", s = escape(s)),
    }
}

fn results(q: &str, hits: &[Hit]) -> String {
    let mut out = format!("{}<h1>Results for “{}”</h1>", form(q), escape(q));
    if hits.is_empty() {
        out.push_str("<p id=\"none\">Nothing matches.</p>");
        return out;
    }
    out.push_str("<ol id=\"results\">");
    for h in hits {
        let _ = write!(
            out,
            "<li class=\"result\"><a class=\"package\" href=\"/package/{}\">{}</a> {}{}<br>{}<br>\
<small>by <a class=\"id\" href=\"/identity/{}\">{}</a></small>",
            url(&h.index),
            escape(&h.name),
            escape(&h.latest),
            status_tag(&h.status),
            escape(&h.description),
            url(&h.publisher),
            escape(&h.publisher),
        );
        if !h.curators.is_empty() {
            out.push_str("<br><small>curated by ");
            for (i, c) in h.curators.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}<a class=\"tag curated\" href=\"/curator/{}\">{}</a>",
                    if i == 0 { "" } else { " " },
                    url(c),
                    escape(c)
                );
            }
            out.push_str("</small>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    out
}

async fn package_page(State(state): Shared, Path(index): Path<String>) -> Response {
    let name = match index_name(&index) {
        Ok(n) => n,
        Err(e) => return error_page(&e),
    };
    match read(&state, move |h| views::package(h, &name)).await {
        Ok(Some(p)) => page(&index, &package_body(&p)).into_response(),
        Ok(None) => error_page(&AppError::not_found(format!(
            "no version index `{index}` is held here"
        ))),
        Err(e) => error_page(&e),
    }
}

fn package_body(p: &PackageView) -> String {
    let r = &p.report;
    let name = r.index.split_once(':').map_or(r.index.as_str(), |(_, n)| n);
    let mut out = format!(
        "<h1>{}</h1><p class=\"id\">{}</p>",
        escape(name),
        escape(&r.index)
    );
    if r.forked || !r.flagged.is_empty() {
        let _ = write!(
            out,
            "<p class=\"warn\" id=\"fork-warning\"><strong>Fork warning:</strong> a maintainer \
signed two different revisions with one sequence number. Do not trust this index until its \
publisher resolves it.{}</p>",
            r.flagged.iter().fold(String::new(), |mut s, f| {
                let _ = write!(s, "<br><code>{}</code>", escape(f));
                s
            })
        );
    }
    rollback_warning(&mut out, &r.rollbacks);
    if let Some(d) = &p.description {
        let _ = write!(out, "<p>{}</p>", escape(d));
    }
    if let Some(l) = &p.license {
        let _ = write!(out, "<p>License: {}</p>", escape(l));
    }
    releases(&mut out, &r.releases);
    out.push_str("</table><h2>Maintainers</h2><ul>");
    for m in &r.maintainers {
        let _ = write!(
            out,
            "<li><a class=\"id\" href=\"/identity/{}\">{}</a> ({})</li>",
            url(&m.identity),
            escape(&m.identity),
            m.permissions.join(", ")
        );
    }
    out.push_str("</ul><h2>Dependencies</h2>");
    if p.dependencies.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<ul>");
        for d in &p.dependencies {
            let _ = write!(
                out,
                "<li><code>{} {}</code>{}</li>",
                escape(&d.alias),
                escape(&d.constraint),
                if d.private { " (private)" } else { "" }
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Curated by</h2>");
    if p.curators.is_empty() {
        out.push_str("<p>No curated index held here includes it.</p>");
    } else {
        out.push_str("<ul id=\"curators\">");
        for c in &p.curators {
            let _ = write!(
                out,
                "<li><a href=\"/curator/{}\">{}</a> as <code>{}</code></li>",
                url(&c.curator),
                escape(&c.curator),
                escape(&c.alias)
            );
        }
        out.push_str("</ul>");
    }
    if !p.dependents.is_empty() {
        out.push_str("<h2>Used by</h2><ul>");
        for d in &p.dependents {
            let _ = write!(
                out,
                "<li><a href=\"/package/{}\">{}</a></li>",
                url(d),
                escape(d)
            );
        }
        out.push_str("</ul>");
    }
    out
}

/// The releases table, newest first.
/// Says which peers offered an old head as current (each refused).
fn rollback_warning(out: &mut String, rollbacks: &[cairn_core::store::Rollback]) {
    if rollbacks.is_empty() {
        return;
    }
    out.push_str(
        "<div class=\"warn\" id=\"rollback-warning\"><strong>Rollback refused:</strong> \
these peers offered an older revision as the current one. Nothing they offered was kept; a peer \
that keeps doing so hides newer releases (yanks, advisories) from those who trust it.<ul>",
    );
    for r in rollbacks {
        let _ = write!(
            out,
            "<li>peer <code>{}</code> offered revision {} while revision {} is verified here</li>",
            escape(&r.source),
            r.offered,
            r.held
        );
    }
    out.push_str("</ul></div>");
}

fn releases(out: &mut String, releases: &[cairn_core::inspect::ReleaseReport]) {
    out.push_str("<h2>Releases</h2><table id=\"releases\"><tr><th>Version</th><th>Status</th><th>Record</th></tr>");
    for rel in releases.iter().rev() {
        let mut notes = String::new();
        if rel.yanked {
            let _ = write!(
                notes,
                "<span class=\"tag yanked\">yanked</span>{}",
                rel.yank_reason
                    .as_ref()
                    .map(|w| format!(" {}", escape(w)))
                    .unwrap_or_default()
            );
        }
        if let Some(d) = &rel.deprecated {
            let _ = write!(
                notes,
                "<span class=\"tag deprecated\">deprecated</span> {}",
                escape(d)
            );
        }
        for a in &rel.advisories {
            let _ = write!(
                notes,
                "<br><span class=\"tag yanked\">{} advisory</span> {}: {}",
                escape(a.severity),
                escape(&a.id),
                escape(&a.summary)
            );
        }
        let _ = write!(
            out,
            "<tr class=\"release\" data-version=\"{v}\"><td>{v}</td><td>{notes}</td><td><code>{}</code></td></tr>",
            rel.release,
            v = escape(&rel.version),
        );
    }
}

async fn curator_page(State(state): Shared, Path(index): Path<String>) -> Response {
    let name = match index_name(&index) {
        Ok(n) => n,
        Err(e) => return error_page(&e),
    };
    let c = match read(&state, move |h| views::curated(h, &name)).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error_page(&AppError::not_found(format!(
                "no package index `{index}` is held here"
            )));
        }
        Err(e) => return error_page(&e),
    };
    let mut out = format!(
        "<h1>{}</h1><p>A curated package index, revision {}.</p>",
        escape(&c.index),
        c.seq
    );
    if c.forked {
        out.push_str("<p class=\"warn\" id=\"fork-warning\"><strong>Fork warning:</strong> its curator signed two different revisions with one sequence number.</p>");
    }
    rollback_warning(&mut out, &c.rollbacks);
    out.push_str(
        "<h2>Aliases</h2><table id=\"aliases\"><tr><th>Alias</th><th>Version index</th></tr>",
    );
    for a in &c.aliases {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><a href=\"/package/{}\">{}</a></td></tr>",
            escape(&a.alias),
            url(&a.curator),
            escape(&a.curator)
        );
    }
    out.push_str("</table>");
    if !c.includes.is_empty() {
        out.push_str("<h2>Includes</h2><ul>");
        for i in &c.includes {
            let _ = write!(
                out,
                "<li><a href=\"/curator/{}\">{}</a></li>",
                url(i),
                escape(i)
            );
        }
        out.push_str("</ul>");
    }
    page(&index, &out).into_response()
}

async fn identity_page(State(state): Shared, Path(id): Path<String>) -> Response {
    let parsed: IdentityId = match id.parse() {
        Ok(i) => i,
        Err(e) => {
            return error_page(&AppError::bad_request(format!(
                "`{id}` is not an identity: {e}"
            )));
        }
    };
    let v = match read(&state, move |h| views::identity(h, &parsed)).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let mut out = format!(
        "<h1>Identity</h1><p class=\"id\">{}</p>",
        escape(&v.identity)
    );
    if let Some(why) = &v.flagged {
        let _ = write!(
            out,
            "<p class=\"warn\" id=\"fork-warning\"><strong>Flagged:</strong> {}</p>",
            escape(why)
        );
    }
    out.push_str("<h2>Indexes</h2><ul>");
    for i in &v.indexes {
        let link = if i.kind == "package-index" {
            "curator"
        } else {
            "package"
        };
        let _ = write!(
            out,
            "<li><a href=\"/{link}/{}\">{}</a> ({}, revision {})</li>",
            url(&i.log),
            escape(&i.log),
            escape(&i.kind),
            i.seq
        );
    }
    out.push_str("</ul>");
    page("Identity", &out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html_and_urls() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("id:name"), "id%3Aname");
        assert_eq!(url("a b/?&"), "a%20b%2F%3F%26");
    }
}
