//! The on-disk model layout: complete, checksummed generations behind one pointer.
//!
//! ```text
//! DIR/
//!   CURRENT                       name of the generation in use, e.g. "gen-20261201T101234.123456Z-4242-0"
//!   gen-20261201T101234.123456Z-4242-0/
//!     manifest.json               ModelInfo + "files": {name: {bytes, sha256}}
//!     detectors.json              template miner and every fitted detector
//!     vectors.fifu, vectors.idf   word vectors (only when a vector detector is configured)
//!   gen-20261130T000003.000001Z-4242-0/   the previous generation, kept as the fallback
//!   .staging-gen-…/               a save in progress, or one a crash interrupted (ignored)
//! ```
//!
//! A model is one unit, not a set of files: [`Staging`] writes every file of a new generation
//! into a hidden staging directory and flushes each to disk, records their sizes and SHA-256
//! digests in the manifest (written last), renames the finished directory to its `gen-…`
//! name, and only then switches `CURRENT` (a temporary file renamed over the old pointer,
//! flushed with its directory). A kill at any moment therefore leaves `CURRENT` naming a
//! complete generation: the old one until the pointer switch, the new one after it. On load
//! the digests are checked, so a generation damaged later (a disk error, a hand edit) is
//! detected too, and [`candidates`] lists the generations to fall back on, newest first.
//!
//! Why a `CURRENT` file and not a symlink: it works on every file system and platform the same
//! way, and it can be read and checked like any file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::durable::write_atomically;

/// Name and version of the on-disk format. Bump the version on any incompatible change.
/// Version 3: generations behind a `CURRENT` pointer, checksums in the manifest.
pub const FORMAT_NAME: &str = "lad-model";
pub const FORMAT_VERSION: u32 = 3;

/// The pointer file naming the generation in use.
pub const POINTER_FILE: &str = "CURRENT";
/// The manifest inside a generation.
pub const MANIFEST_FILE: &str = "manifest.json";
const GENERATION_PREFIX: &str = "gen-";
const STAGING_PREFIX: &str = ".staging-";
/// Staging directories older than this are leftovers of a crashed save and are removed.
const STALE_STAGING: Duration = Duration::from_secs(3600);

/// Test hook: `LAD_TEST_MODEL_SAVE_PAUSE=STAGE:MARKER` makes a save stop forever after
/// `STAGE` (a file name such as `detectors.json`, or `rename` / `pointer`), after writing the
/// staging path into the file `MARKER`, so a test can kill the process there. Unset in
/// production; reading it costs one environment lookup per save step.
pub const PAUSE_HOOK_ENV: &str = "LAD_TEST_MODEL_SAVE_PAUSE";

static SAVE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Size and SHA-256 of one file of a generation, as recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    pub sha256: String,
}

impl FileDigest {
    /// Digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        let hash = Sha256::digest(data);
        let mut hex = String::with_capacity(64);
        for b in hash.iter() {
            hex.push_str(&format!("{b:02x}"));
        }
        Self {
            bytes: data.len() as u64,
            sha256: hex,
        }
    }
}

/// Reads `name` from generation `gen` and checks it against `files`. The error text says
/// which file and what is wrong with it.
pub fn read_verified(
    gen: &Path,
    files: &BTreeMap<String, FileDigest>,
    name: &str,
) -> Result<Vec<u8>, String> {
    let want = files
        .get(name)
        .ok_or_else(|| format!("{name} is not listed in the manifest"))?;
    let mut data = Vec::new();
    fs::File::open(gen.join(name))
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| format!("{name}: {e}"))?;
    let got = FileDigest::of(&data);
    if got.bytes != want.bytes {
        return Err(format!(
            "{name} has {} bytes, the manifest says {} (half-written or replaced)",
            got.bytes, want.bytes
        ));
    }
    if got.sha256 != want.sha256 {
        return Err(format!(
            "{name} does not match its checksum in the manifest (damaged or replaced)"
        ));
    }
    Ok(data)
}

/// A generation being written. Dropping it without [`Staging::commit`] leaves the staging
/// directory behind, which loads ignore and a later save removes.
pub struct Staging {
    dir: PathBuf,
    name: String,
    path: PathBuf,
    files: BTreeMap<String, FileDigest>,
}

impl Staging {
    /// Starts a new generation under the model directory `dir` (created if missing).
    pub fn begin(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let name = format!(
            "{GENERATION_PREFIX}{}-{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id(),
            SAVE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(format!("{STAGING_PREFIX}{name}"));
        fs::create_dir(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            path,
            files: BTreeMap::new(),
        })
    }

    /// Where to write the file `name` of this generation.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Records the digest of the (flushed) file `name`, to go into the manifest.
    pub fn add(&mut self, name: &str) -> std::io::Result<()> {
        let data = fs::read(self.file(name))?;
        self.files.insert(name.to_string(), FileDigest::of(&data));
        pause_hook(name, &self.path);
        Ok(())
    }

    /// The digests recorded so far.
    pub fn files(&self) -> &BTreeMap<String, FileDigest> {
        &self.files
    }

    /// Writes the manifest (last file of a generation), renames the generation into place,
    /// switches `CURRENT` to it and removes generations older than the previous one.
    /// Returns the generation's directory.
    pub fn commit(self, manifest: &[u8]) -> std::io::Result<PathBuf> {
        write_atomically(&self.file(MANIFEST_FILE), |w| {
            std::io::Write::write_all(w, manifest)
        })?;
        pause_hook(MANIFEST_FILE, &self.path);
        crate::durable::sync_dir(&self.path)?;
        let target = self.dir.join(&self.name);
        fs::rename(&self.path, &target)?;
        crate::durable::sync_dir(&self.dir)?;
        pause_hook("rename", &target);
        let previous = read_pointer(&self.dir).ok();
        write_atomically(&self.dir.join(POINTER_FILE), |w| {
            std::io::Write::write_all(w, format!("{}\n", self.name).as_bytes())
        })?;
        pause_hook("pointer", &target);
        prune(&self.dir, &self.name, previous.as_deref());
        Ok(target)
    }
}

/// The generation name in `CURRENT`, checked to be a plain `gen-…` name.
pub fn read_pointer(dir: &Path) -> std::io::Result<String> {
    let text = fs::read_to_string(dir.join(POINTER_FILE))?;
    let name = text.trim();
    if !is_generation_name(name) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{POINTER_FILE} does not name a generation: {name:?}"),
        ));
    }
    Ok(name.to_string())
}

fn is_generation_name(name: &str) -> bool {
    name.starts_with(GENERATION_PREFIX)
        && !name.contains(['/', '\\'])
        && !name.contains("..")
        && name.len() < 200
}

/// Generation directories under `dir`, newest first (names start with their UTC time).
fn generations(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_generation_name(n))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names
}

/// Directories to load a model from, in order of preference: the generation `CURRENT`
/// names, then every other generation, newest first. A directory laid out by an older lad
/// (files directly in `dir`, no pointer) is its own single candidate, so loading reports
/// its format clearly. Errors only when `dir` itself cannot be read.
pub fn candidates(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fs::read_dir(dir)?;
    let mut out = Vec::new();
    let current = read_pointer(dir).ok();
    if let Some(c) = &current {
        out.push(dir.join(c));
    }
    for g in generations(dir) {
        if current.as_deref() != Some(g.as_str()) {
            out.push(dir.join(g));
        }
    }
    if out.is_empty() && dir.join(MANIFEST_FILE).is_file() {
        out.push(dir.to_path_buf());
    }
    Ok(out)
}

/// The directory holding the manifest of the model in use (the `CURRENT` generation, or the
/// newest generation, or `dir` itself for an older flat layout).
pub fn current_generation(dir: &Path) -> std::io::Result<PathBuf> {
    candidates(dir)?.into_iter().next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no model in {} (no {POINTER_FILE} file)", dir.display()),
        )
    })
}

/// Removes generations older than both `new` and `previous`, staging directories left by
/// crashed saves, and the files of an older flat layout. Best effort: a failure costs disk
/// space, never the model. Generations newer than `previous` are kept even when unknown to
/// this process, because another process saving into the same directory may be about to
/// point `CURRENT` at one.
fn prune(dir: &Path, new: &str, previous: Option<&str>) {
    if let Some(prev) = previous {
        let oldest_kept = prev.min(new);
        for g in generations(dir) {
            if g.as_str() < oldest_kept {
                let _ = fs::remove_dir_all(dir.join(&g));
            }
        }
    }
    let now = SystemTime::now();
    for e in fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(STAGING_PREFIX) {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_STAGING);
            if old {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    for f in [
        MANIFEST_FILE,
        "detectors.json",
        "vectors.fifu",
        "vectors.idf",
        "vectors.fifu.idf",
    ] {
        let _ = fs::remove_file(dir.join(f));
    }
}

/// See [`PAUSE_HOOK_ENV`].
fn pause_hook(stage: &str, at: &Path) {
    let Ok(spec) = std::env::var(PAUSE_HOOK_ENV) else {
        return;
    };
    let Some((want, marker)) = spec.split_once(':') else {
        return;
    };
    if want != stage {
        return;
    }
    let _ = fs::write(marker, at.display().to_string());
    tracing::warn!(stage, path = %at.display(), "{PAUSE_HOOK_ENV}: model save paused for a test");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256() {
        let d = FileDigest::of(b"abc");
        assert_eq!(d.bytes, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pointer_must_name_a_generation() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["../etc", "gen-../x", "manifest.json", ""] {
            fs::write(dir.path().join(POINTER_FILE), bad).expect("write");
            assert!(read_pointer(dir.path()).is_err(), "{bad:?} accepted");
        }
        fs::write(dir.path().join(POINTER_FILE), "gen-1\n").expect("write");
        assert_eq!(read_pointer(dir.path()).expect("pointer"), "gen-1");
    }

    #[test]
    fn candidates_put_current_first_then_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        for g in ["gen-1", "gen-2", "gen-3", ".staging-gen-4"] {
            fs::create_dir(dir.path().join(g)).expect("mkdir");
        }
        fs::write(dir.path().join(POINTER_FILE), "gen-2\n").expect("write");
        let c: Vec<String> = candidates(dir.path())
            .expect("candidates")
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(c, ["gen-2", "gen-3", "gen-1"]);
    }

    #[test]
    fn verification_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("a"), b"hello").expect("write");
        let mut files = BTreeMap::new();
        files.insert("a".to_string(), FileDigest::of(b"hello"));
        assert_eq!(
            read_verified(dir.path(), &files, "a").expect("ok"),
            b"hello"
        );
        fs::write(dir.path().join("a"), b"hel").expect("write");
        let e = read_verified(dir.path(), &files, "a").expect_err("short");
        assert!(e.contains("a has 3 bytes"), "{e}");
        fs::write(dir.path().join("a"), b"jello").expect("write");
        let e = read_verified(dir.path(), &files, "a").expect_err("changed");
        assert!(e.contains("checksum"), "{e}");
        let e = read_verified(dir.path(), &files, "b").expect_err("unlisted");
        assert!(e.contains("not listed"), "{e}");
    }
}
