//! Atomic file writes and the on-disk model layout.
//!
//! A model directory holds `manifest.json` (format name and version, model version, params,
//! training facts), `vectors.fifu` + `vectors.idf` (finalfusion word vectors and IDF weights)
//! (only when a vector detector is configured) and `detectors.json` (template miner and every
//! fitted detector). Every file is written to a
//! temporary file and renamed into place, the manifest last; `detectors.json` repeats the model
//! version so a directory caught between two saves is detected on load, never half-read.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Name and version of the on-disk format. Bump the version on any incompatible change.
pub const FORMAT_NAME: &str = "lad-model";
pub const FORMAT_VERSION: u32 = 2;

/// Writes `path` through a temporary sibling file and a rename, so readers see the old file
/// or the new one, never a partial one.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}
