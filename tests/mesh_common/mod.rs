//! Helpers shared by the `mesh_*` integration tests: voxelised shapes on arbitrary grids and the
//! path of the real label map in `../shared/data`.
#![allow(dead_code)]

use std::path::PathBuf;

use nalgebra::Matrix4;
use oncoscope::volume::{Grid, LabelVolume, Volume};

/// Labels `label` where the world position of the voxel centre lies within `radius_mm` of
/// `centre_mm`, 0 elsewhere.
pub fn sphere_labels(grid: Grid, centre_mm: [f64; 3], radius_mm: f64, label: u8) -> LabelVolume {
    let mut labels = Volume::filled(grid, 0u8);
    paint_ball(&mut labels, centre_mm, radius_mm, label);
    labels
}

/// Sets voxels whose centres lie within `radius_mm` of `centre_mm` (world) to `label`.
pub fn paint_ball(labels: &mut LabelVolume, centre_mm: [f64; 3], radius_mm: f64, label: u8) {
    for i in 0..labels.voxels.len() {
        let [x, y, z] = labels.grid.coords(i);
        let p = labels.grid.world_of_voxel([x as f64, y as f64, z as f64]);
        let d2 = (0..3).map(|a| (p[a] - centre_mm[a]).powi(2)).sum::<f64>();
        if d2 <= radius_mm * radius_mm {
            labels.voxels[i] = label;
        }
    }
}

/// A grid whose voxel x axis runs toward world −x (and z toward −z), covering the same voxel
/// centres as `Grid::axis_aligned(dims, spacing_mm, origin_mm)`.
pub fn mirrored_grid(dims: [usize; 3], spacing_mm: [f64; 3], origin_mm: [f64; 3]) -> Grid {
    let mut m = Matrix4::identity();
    for a in 0..3 {
        m[(a, a)] = spacing_mm[a];
        m[(a, 3)] = origin_mm[a];
    }
    for a in [0, 2] {
        m[(a, a)] = -spacing_mm[a];
        m[(a, 3)] = origin_mm[a] + (dims[a] - 1) as f64 * spacing_mm[a];
    }
    Grid::new(dims, m).expect("valid mirrored grid")
}

/// `../shared/data/lits117_crop128/label.nii.gz` when present.
pub fn lits_label_path() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/lits117_crop128/label.nii.gz");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent", p.display());
        None
    }
}
