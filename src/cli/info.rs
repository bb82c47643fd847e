//! `oncoscope info FILE...`: what a NIfTI file holds — grid, spacing, orientation, data type,
//! intensity range and, for label maps, label voxel counts and volumes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use oncoscope::volume::nifti::read_ct;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// NIfTI files (.nii, .nii.gz).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `info` reports for one file.
#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub path: String,
    /// Voxel counts in the file's own axis order.
    pub dims: [usize; 3],
    /// Voxel spacing (mm) along the file's axes.
    pub spacing_mm: [f64; 3],
    /// Orientation code of the file's voxel axes (e.g. "LPS").
    pub orientation: String,
    pub nifti_version: u8,
    pub data_type: String,
    pub affine_source: String,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub value_min: f32,
    pub value_max: f32,
    /// Label value, voxel count and volume (mL), when every value is an integer in 0..=255.
    pub labels: Option<Vec<LabelInfo>>,
}

#[derive(Debug, Serialize)]
pub struct LabelInfo {
    pub value: u8,
    pub voxels: usize,
    pub volume_ml: f64,
}

pub fn run_info(args: &InfoArgs) -> Result<()> {
    let mut failures = 0;
    for path in &args.files {
        match file_info(path) {
            Ok(info) if args.json => println!("{}", serde_json::to_string(&info)?),
            Ok(info) => print_info(&info),
            Err(e) => {
                failures += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} files could not be read", args.files.len());
    }
    Ok(())
}

/// Reads `path` and summarises it.
pub fn file_info(path: &Path) -> Result<FileInfo> {
    let ct = read_ct(path)?;
    let source = ct
        .source
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{}: no source information", path.display()))?;
    let (value_min, value_max) = ct.hu_range();
    let is_label_map = ct
        .voxels
        .iter()
        .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0);
    let labels = is_label_map.then(|| {
        let mut counts = [0usize; 256];
        for &v in &ct.voxels {
            counts[v as usize] += 1;
        }
        let voxel_ml = ct.grid.voxel_volume_ml();
        (0..=255u8)
            .filter(|&l| counts[l as usize] > 0)
            .map(|value| LabelInfo {
                value,
                voxels: counts[value as usize],
                volume_ml: counts[value as usize] as f64 * voxel_ml,
            })
            .collect()
    });
    let file_spacing = {
        let g = oncoscope::volume::Grid {
            dims: source.file_dims,
            world_from_voxel: source.world_from_file_voxel,
        };
        g.spacing_mm()
    };
    Ok(FileInfo {
        path: path.display().to_string(),
        dims: source.file_dims,
        spacing_mm: file_spacing,
        orientation: source.file_orientation_code(),
        nifti_version: source.header.version,
        data_type: source.data_type.name().to_string(),
        affine_source: source.affine_source.name().to_string(),
        scl_slope: source.header.scaling().slope,
        scl_inter: source.header.scaling().inter,
        value_min,
        value_max,
        labels,
    })
}

pub fn print_info(info: &FileInfo) {
    let [sx, sy, sz] = info.spacing_mm;
    println!("{}", info.path);
    println!(
        "  dimensions   {} × {} × {}   spacing {sx:.3} × {sy:.3} × {sz:.3} mm   orientation {} (affine from {})",
        info.dims[0], info.dims[1], info.dims[2], info.orientation, info.affine_source
    );
    println!(
        "  data type    {} (NIfTI-{}), scaling × {} + {}",
        info.data_type, info.nifti_version, info.scl_slope, info.scl_inter
    );
    match &info.labels {
        Some(labels) => {
            println!(
                "  label map    values {}..{}",
                info.value_min, info.value_max
            );
            for l in labels {
                println!(
                    "    label {:>3}: {:>11} voxels {:>10.1} mL",
                    l.value, l.voxels, l.volume_ml
                );
            }
        }
        None => println!("  HU range     {} .. {}", info.value_min, info.value_max),
    }
}
