//! `oncoscope` with no arguments: until the viewer exists, a tour of the bundled sample case.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::info::{file_info, print_info};

/// The bundled sample case: `assets/sample/ct.nii.gz` and its label map, found beside the
/// executable's crate (at build time) or in the current folder.
pub fn sample_paths() -> Result<(PathBuf, PathBuf)> {
    let roots = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        PathBuf::from("."),
    ];
    roots
        .iter()
        .map(|r| r.join("assets/sample"))
        .find(|d| d.join("ct.nii.gz").is_file())
        .map(|d| (d.join("ct.nii.gz"), d.join("label.nii.gz")))
        .context("the sample case assets/sample/ct.nii.gz is missing from this installation")
}

pub fn run_sample() -> Result<()> {
    let (ct, label) = sample_paths()?;
    println!("Oncoscope sample case (synthetic phantom; see assets/README.md)\n");
    print_info(&file_info(&ct)?);
    if label.is_file() {
        print_info(&file_info(&label)?);
    }
    Ok(())
}
