//! `oncoscope` with no arguments: until the viewer exists, a tour of the bundled sample case —
//! its files, its ground-truth lesion table and, when trained weights are present, what the
//! models say about it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use oncoscope::mesh::lesion_table;
use oncoscope::volume::nifti::{read_ct, read_labels_for};

use super::info::{file_info, print_info};
use super::mesh_cmd::table_text;

/// The bundled sample case: `assets/sample/ct.nii.gz` and `label.nii.gz`, found in the crate
/// the binary was built from or in the current folder.
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
    let (ct_path, label_path) = sample_paths()?;
    println!("Oncoscope sample case: a synthetic liver phantom (see assets/README.md)\n");
    print_info(&file_info(&ct_path)?);
    print_info(&file_info(&label_path)?);
    let ct = read_ct(&ct_path)?;
    let labels = read_labels_for(&label_path, &ct)?;
    println!("\nGround truth:");
    print!(
        "{}",
        table_text(&label_path, &labels, &lesion_table(&labels, 0.0))
    );
    let weights = weights_dir(&ct_path);
    if weights.join("liver_cnn.json").is_file() || weights.join("liver_unet.json").is_file() {
        println!("\nModels in {}:", weights.display());
        super::infer::run_infer(&super::infer::InferArgs {
            ct: ct_path.clone(),
            task: oncoscope::volume::decathlon::Task::Liver,
            label: Some(label_path.clone()),
            weights: Some(weights),
            out: None,
            json: false,
            device: "cpu".into(),
            tumour_sensitivity: None,
        })?;
    } else {
        println!(
            "\nNo trained weights in {} yet: train with `oncoscope train` (see README).",
            weights.display()
        );
    }
    Ok(())
}

fn weights_dir(sample_ct: &Path) -> PathBuf {
    sample_ct
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("weights"), |root| root.join("weights"))
}
