//! What the environment tells every command: the home, the passphrase, the clock, key
//! generation. Test-only switches print a warning to stderr whenever they are used.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use cairn_core::home::Home;
use cairn_core::keys::{self, KdfParams, KeyError};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;

/// Opens the home: `--home`, else `$CAIRN_HOME`, else the platform data directory.
pub(crate) fn open_home(explicit: Option<&Path>) -> anyhow::Result<Home> {
    let dir: PathBuf = cairn_core::store::home_dir(explicit)
        .context("no home directory: pass `--home DIR` or set `CAIRN_HOME`")?;
    if let Some(notice) = cairn_core::store::Store::upgrade_notice(&dir) {
        eprintln!("{notice}");
    }
    Home::open(&dir).with_context(|| format!("failed to open the Cairn home `{}`", dir.display()))
}

/// Opens a home that must already exist, for commands that only read: a mistyped `--home` is
/// an error naming the path, not a new empty home.
pub(crate) fn open_existing_home(explicit: Option<&Path>) -> anyhow::Result<Home> {
    let dir: PathBuf = cairn_core::store::home_dir(explicit)
        .context("no home directory: pass `--home DIR` or set `CAIRN_HOME`")?;
    if !dir.join(cairn_core::store::DB_FILE).is_file() {
        bail!(
            "there is no Cairn home at `{}`\n\nhint: check `--home` or `CAIRN_HOME`; `cairn id new` or `cairn import FILE.car` starts a home",
            dir.display()
        );
    }
    open_home(Some(&dir))
}

/// The passphrase: `$CAIRN_PASSPHRASE`, else asked on the terminal (twice when `confirm`).
pub(crate) fn passphrase(confirm: bool) -> anyhow::Result<Vec<u8>> {
    if let Some(p) = std::env::var_os("CAIRN_PASSPHRASE") {
        if p.is_empty() {
            bail!(
                "`CAIRN_PASSPHRASE` is set but empty; an empty passphrase would leave the keys unprotected\n\nhint: set it to the passphrase, or unset it to be asked on the terminal"
            );
        }
        return Ok(p.into_encoded_bytes());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "a passphrase is needed and there is no terminal to ask on\n\nhint: set `CAIRN_PASSPHRASE` for scripts"
        );
    }
    let first = rpassword::prompt_password("passphrase for the key file: ")
        .context("failed to read the passphrase")?;
    if confirm {
        let second =
            rpassword::prompt_password("again: ").context("failed to read the passphrase")?;
        if first != second {
            bail!("the two passphrases differ");
        }
    }
    if first.is_empty() {
        bail!("an empty passphrase would leave the keys unprotected");
    }
    Ok(first.into_bytes())
}

/// Key derivation cost: the default, or the minimum when `CAIRN_KDF_INSECURE_FOR_TESTS` is set
/// (test builds only).
pub(crate) fn kdf() -> KdfParams {
    if cairn_core::fault::test_env("CAIRN_KDF_INSECURE_FOR_TESTS").is_some() {
        eprintln!(
            "warning: CAIRN_KDF_INSECURE_FOR_TESTS is set: key files are sealed with the minimum cost"
        );
        return KdfParams::INSECURE_FOR_TESTS;
    }
    KdfParams::DEFAULT
}

/// Seconds since the Unix epoch: `$CAIRN_TIME` (test builds only, for reproducible transcripts)
/// or the clock.
pub(crate) fn now() -> anyhow::Result<u64> {
    if let Some(t) = cairn_core::fault::test_env("CAIRN_TIME") {
        return t
            .parse()
            .with_context(|| format!("`CAIRN_TIME={t}` is not a number of seconds"));
    }
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

/// New secret keys: random, or (test builds only) derived from `$CAIRN_TEST_SEED` and `salt` (reproducible
/// transcripts; callers pass something that differs between invocations in one home, such as
/// the number of identities already there).
pub(crate) fn keygen(salt: u64) -> impl FnMut() -> Result<SecretKey, KeyError> {
    let seed = cairn_core::fault::test_env("CAIRN_TEST_SEED");
    if seed.is_some() {
        eprintln!("warning: CAIRN_TEST_SEED is set: keys are derived from it and are not secret");
    }
    let mut n = 0u64;
    move || match &seed {
        None => keys::generate(),
        Some(s) => {
            n += 1;
            let mut h = blake3::Hasher::new();
            h.update(b"cairn test key\0");
            h.update(s.as_bytes());
            h.update(&salt.to_le_bytes());
            h.update(&n.to_le_bytes());
            Ok(SecretKey::from_seed(h.finalize().as_bytes()))
        }
    }
}

/// Resolves `NAME` or `IDENTITY:NAME` (IDENTITY may be a petname).
pub(crate) fn index_name(home: &Home, text: &str, me: Option<&str>) -> anyhow::Result<IndexName> {
    cairn_core::project::index_name_of(home, text, me).map_err(anyhow::Error::msg)
}

/// A log named by an index (`NAME`, `IDENTITY:NAME`) or an identity (petname or ID).
/// (`NAME` is one of the default identity's indexes when it has one by that name.)
pub(crate) fn log_name(home: &Home, given: &str) -> anyhow::Result<String> {
    let mine = home.resolve(None).ok().map(|me| format!("{me}:{given}"));
    if given.contains(':') {
        return Ok(index_name(home, given, None)?.to_string());
    }
    if let Some(m) = mine
        && cairn_core::inspect::kind(home, &m)?.is_some()
    {
        return Ok(m);
    }
    Ok(home.resolve(Some(given))?.to_string())
}
