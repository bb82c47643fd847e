//! Timing of marching cubes on label volumes, the Rust half of `oncoscope bench mesh`.

use std::time::Instant;

use super::{MeshError, PaddedField, edge_report, marching_cubes};
use crate::volume::LabelVolume;

/// Time and output of marching cubes on one volume.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct McTiming {
    /// Median wall time of the timed runs, seconds (cropping and padding included).
    pub median_s: f64,
    pub min_s: f64,
    pub runs_s: Vec<f64>,
    pub vertices: usize,
    pub triangles: usize,
    /// Surface area in world mm² (voxel units for a unit-spacing grid).
    pub area_mm2: f64,
    /// Every edge in exactly two triangles with consistent winding.
    pub closed: bool,
    pub euler_characteristic: i64,
}

/// The label → sample map that keeps label values, so that iso level 0.5 reproduces
/// `skimage.measure.marching_cubes(volume, level=0.5)` on the raw label volume.
pub fn identity_lut() -> [u8; 256] {
    std::array::from_fn(|v| v as u8)
}

/// Runs [`PaddedField::from_labels`] + [`marching_cubes()`] once untimed, then `runs` timed times
/// (at least one), and reports the median time and the mesh of the last run.
pub fn time_marching_cubes(
    labels: &LabelVolume,
    lut: &[u8; 256],
    iso_level: f32,
    runs: usize,
) -> Result<McTiming, MeshError> {
    let run = || -> Result<_, MeshError> {
        match PaddedField::from_labels(labels, lut) {
            Some(field) => marching_cubes(&field, iso_level, &labels.grid.world_from_voxel),
            None => Ok(Default::default()),
        }
    };
    let mut mesh = run()?;
    let mut runs_s = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        mesh = run()?;
        runs_s.push(start.elapsed().as_secs_f64());
    }
    let mut sorted = runs_s.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median_s = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    };
    let report = edge_report(&mesh);
    Ok(McTiming {
        median_s,
        min_s: sorted[0],
        runs_s,
        vertices: mesh.vertex_count(),
        triangles: mesh.triangle_count(),
        area_mm2: mesh.surface_area_mm2(),
        closed: report.is_closed_manifold(),
        euler_characteristic: report.euler_characteristic,
    })
}
