//! An indexing node's limits: what it takes from others. They are read from a TOML file
//! (`cairn-indexer run --config FILE`) in which every limit is optional: a file names only
//! what it changes, and [`DEFAULT_FILE`] (what `cairn-indexer config` prints) lists them all
//! with their defaults.

use std::path::Path;

use serde::Deserialize;

/// Every limit, with its default, as a file says it.
pub const DEFAULT_FILE: &str = r"# cairn-indexer limits: what this node takes from others. Every key is optional.

[network]
# Announcements (gossip or pushes) taken from one peer, and about one identity's logs, in
# any 10 seconds; the rest are dropped.
announcements_per_peer = 32
announcements_per_identity = 32
# Logs fetched at once, and logs waiting for a fetch (beyond, announcements are dropped until
# a later one).
fetches = 4
queue = 10000

[http]
# Requests per second one client address may make on average, and at once before that rate
# applies; beyond, 429 with Retry-After.
rate = 50.0
burst = 200

[search]
# Searches over the peer network running at once (the others wait).
at_once = 4
";

/// An indexing node's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// What the peer-network node takes.
    pub network: cairn_core::net::service::Limits,
    /// What one HTTP client address may ask.
    pub http: Http,
    /// Searches over the peer network at once.
    pub searches: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            network: cairn_core::net::service::Limits::default(),
            http: Http::default(),
            searches: 4,
        }
    }
}

/// What one HTTP client address may ask: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Http {
    /// Requests per second, on average.
    pub rate: f64,
    /// Requests at once before the rate applies.
    pub burst: f64,
}

impl Default for Http {
    fn default() -> Http {
        Http {
            rate: 50.0,
            burst: 200.0,
        }
    }
}

/// The file, as written (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    network: NetworkFile,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    search: SearchFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    announcements_per_peer: Option<u64>,
    announcements_per_identity: Option<u64>,
    fetches: Option<u64>,
    queue: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    rate: Option<f64>,
    burst: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchFile {
    at_once: Option<u64>,
}

/// Why a limits file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// It cannot be read.
    #[error("cannot read the limits file `{path}`: {cause}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// It is not TOML of the expected shape.
    #[error(
        "the limits file `{path}` is not valid: {reason}\n\nhint: `cairn-indexer config` prints every limit with its default"
    )]
    Parse {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A limit is out of its range.
    #[error(
        "the limits file `{path}`: `{key}` is {value}, out of its range {range}\n\nhint: give a value in that range, or leave the key out for its default"
    )]
    Range {
        /// The file.
        path: String,
        /// The key, `section.name`.
        key: &'static str,
        /// What it says.
        value: String,
        /// What is allowed.
        range: &'static str,
    },
}

impl Limits {
    /// Reads the limits file at `path`.
    ///
    /// # Errors
    /// When it cannot be read, is not TOML of the expected shape (an unknown key included),
    /// or a limit is out of range.
    pub fn read(path: &Path) -> Result<Limits, LimitsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| LimitsError::Io {
            path: shown.clone(),
            cause,
        })?;
        Limits::parse(&text, &shown)
    }

    /// Reads limits from `text`, the file `path` (named in errors).
    ///
    /// # Errors
    /// As [`Limits::read`].
    pub fn parse(text: &str, path: &str) -> Result<Limits, LimitsError> {
        let file: File = toml::from_str(text).map_err(|e| LimitsError::Parse {
            path: path.to_owned(),
            reason: e.to_string().trim().to_owned(),
        })?;
        let range =
            |key: &'static str, value: Option<u64>, min: u64, max: u64, text: &'static str| {
                match value {
                    Some(v) if !(min..=max).contains(&v) => Err(LimitsError::Range {
                        path: path.to_owned(),
                        key,
                        value: v.to_string(),
                        range: text,
                    }),
                    _ => Ok(value),
                }
            };
        let d = Limits::default();
        let n = &file.network;
        let per_peer = range(
            "network.announcements_per_peer",
            n.announcements_per_peer,
            1,
            100_000,
            "1 to 100000",
        )?;
        let per_identity = range(
            "network.announcements_per_identity",
            n.announcements_per_identity,
            1,
            100_000,
            "1 to 100000",
        )?;
        let fetches = range("network.fetches", n.fetches, 1, 64, "1 to 64")?;
        let queue = range("network.queue", n.queue, 1, 10_000_000, "1 to 10000000")?;
        let burst = range("http.burst", file.http.burst, 1, 1_000_000, "1 to 1000000")?;
        let at_once = range("search.at_once", file.search.at_once, 1, 64, "1 to 64")?;
        if let Some(rate) = file.http.rate
            && !(0.01..=1_000_000.0).contains(&rate)
        {
            return Err(LimitsError::Range {
                path: path.to_owned(),
                key: "http.rate",
                value: rate.to_string(),
                range: "0.01 to 1000000",
            });
        }
        // Every value was checked against a range that fits the target type.
        let small = |v: Option<u64>, default: usize| {
            v.map_or(default, |v| usize::try_from(v).unwrap_or(default))
        };
        let count = |v: Option<u64>, default: u32| {
            v.map_or(default, |v| u32::try_from(v).unwrap_or(default))
        };
        #[allow(clippy::cast_precision_loss)] // At most a million.
        let burst = burst.map_or(d.http.burst, |b| b as f64);
        Ok(Limits {
            network: cairn_core::net::service::Limits {
                per_peer: count(per_peer, d.network.per_peer),
                per_identity: count(per_identity, d.network.per_identity),
                fetches: small(fetches, d.network.fetches),
                queue: small(queue, d.network.queue),
            },
            http: Http {
                rate: file.http.rate.unwrap_or(d.http.rate),
                burst,
            },
            searches: small(at_once, d.searches),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_says_the_defaults_and_an_empty_one_changes_nothing() {
        assert_eq!(
            Limits::parse(DEFAULT_FILE, "d").expect("parses"),
            Limits::default()
        );
        assert_eq!(Limits::parse("", "e").expect("parses"), Limits::default());
    }

    #[test]
    fn a_file_changes_what_it_names_and_bad_ones_are_refused_with_the_key() {
        let l =
            Limits::parse("[network]\nfetches = 16\n[http]\nrate = 5.5\n", "f").expect("parses");
        assert_eq!(l.network.fetches, 16);
        assert!((l.http.rate - 5.5).abs() < f64::EPSILON);
        assert_eq!(l.network.queue, Limits::default().network.queue);
        let refused = |text: &str| {
            Limits::parse(text, "limits.toml")
                .expect_err(text)
                .to_string()
        };
        let e = refused("[network]\nfetches = 0\n");
        assert!(
            e.contains("`network.fetches` is 0")
                && e.contains("1 to 64")
                && e.contains("limits.toml"),
            "{e}"
        );
        let e = refused("[http]\nrate = -1.0\n");
        assert!(e.contains("`http.rate`"), "{e}");
        let e = refused("[network]\nfetchez = 3\n");
        assert!(
            e.contains("fetchez") && e.contains("cairn-indexer config"),
            "{e}"
        );
        let e = refused("[search]\nat_once = \"many\"\n");
        assert!(e.contains("not valid"), "{e}");
    }
}
