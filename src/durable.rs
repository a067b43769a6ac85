//! Durable file writes: a file is written to a temporary sibling, flushed to disk and renamed
//! into place, and the directory entry is flushed too. A reader (or a process restarted after
//! a crash or power loss) sees the old file or the new one, never a partial one.
//!
//! Shared by the model store and the word vectors, which is why it lives outside both.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writers inside one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` through a temporary sibling file, `fsync` and a rename, then flushes the
/// directory, so readers see the old file or the new one, never a partial one.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    match result.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => sync_parent(path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Flushes the directory entries of `dir` (a rename or a new file in it is durable only
/// after this). A no-op where directories cannot be opened as files.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// [`sync_dir`] of the directory holding `path`.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.txt");
        write_atomically(&p, |w| w.write_all(b"one")).expect("write");
        write_atomically(&p, |w| w.write_all(b"two")).expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        let failed = write_atomically(&p, |_| Err(std::io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(
            fs::read(&p).expect("read"),
            b"two",
            "a failed write keeps the old file"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }
}
