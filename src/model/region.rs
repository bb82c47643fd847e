//! Which part of a CT a model sees: the whole box, or a cube around the organ (found from the
//! ground truth in training and from a locator model at inference), so that a model grid of
//! 64³ spends its voxels on the organ and its lesions instead of the whole abdomen.

use serde::{Deserialize, Serialize};

use crate::mesh::connected_components_26;
use crate::volume::{Grid, LabelVolume};

/// The part of the CT resampled onto the model grid.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Region {
    /// The CT's whole box.
    #[default]
    WholeBox,
    /// A cube around the organ: its bounding box grown by `margin_mm` on every side, then
    /// widened to its longest side (so model voxels keep the CT's proportions), centred on the
    /// organ.
    OrganCube { margin_mm: f64 },
}

/// A box of a CT grid in voxel indices: the centres `first ..= last` (fractional; the faces
/// lie half a voxel further out). It may reach outside the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionBox {
    pub first: [f64; 3],
    pub last: [f64; 3],
}

impl RegionBox {
    /// Whether voxel `[x, y, z]` of the CT grid lies inside the box.
    pub fn contains(&self, voxel: [usize; 3]) -> bool {
        (0..3).all(|a| {
            let v = voxel[a] as f64;
            v >= self.first[a] - 0.5 && v <= self.last[a] + 0.5
        })
    }

    /// The box's edge lengths in mm on `grid`.
    pub fn size_mm(&self, grid: &Grid) -> [f64; 3] {
        let spacing = grid.spacing_mm();
        [0, 1, 2].map(|a| (self.last[a] - self.first[a] + 1.0) * spacing[a])
    }
}

/// The organ cube of `labels` (organ = every label ≥ 1, tumour included) with `margin_mm`;
/// `None` without organ voxels.
pub fn organ_cube(labels: &LabelVolume, margin_mm: f64) -> Option<RegionBox> {
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut any = false;
    for (i, &label) in labels.voxels.iter().enumerate() {
        if label == 0 {
            continue;
        }
        any = true;
        let voxel = labels.grid.coords(i);
        for a in 0..3 {
            lo[a] = lo[a].min(voxel[a]);
            hi[a] = hi[a].max(voxel[a]);
        }
    }
    any.then(|| cube_around(&labels.grid, lo, hi, margin_mm))
}

/// The cube around voxels `lo ..= hi` of `grid`, grown by `margin_mm`.
fn cube_around(grid: &Grid, lo: [usize; 3], hi: [usize; 3], margin_mm: f64) -> RegionBox {
    let spacing = grid.spacing_mm();
    let side_mm = (0..3)
        .map(|a| (hi[a] - lo[a] + 1) as f64 * spacing[a] + 2.0 * margin_mm)
        .fold(0.0, f64::max);
    let mut first = [0.0; 3];
    let mut last = [0.0; 3];
    for a in 0..3 {
        let centre = 0.5 * (lo[a] + hi[a]) as f64;
        let half_voxels = 0.5 * side_mm / spacing[a];
        first[a] = centre - half_voxels + 0.5;
        last[a] = centre + half_voxels - 0.5;
    }
    RegionBox { first, last }
}

/// The smallest piece of a locator's organ that is kept, as a fraction of its largest piece.
/// A coarse locator can break a thin organ into pieces (the pancreas at 5 mm per voxel:
/// second pieces of 9–69 % of the first on the held-out phantoms, and keeping only the first
/// left up to half the organ outside its cube), while its stray specks stay under 3 %.
pub const MIN_ORGAN_PIECE_FRACTION: f64 = 0.05;

/// Keeps the organ's (labels ≥ 1) 26-connected pieces of at least
/// [`MIN_ORGAN_PIECE_FRACTION`] of its largest one and clears the rest: a locator's stray
/// voxels far from the organ must not stretch its cube, but an organ found in pieces stays
/// whole.
pub fn main_organ_pieces(labels: &LabelVolume) -> LabelVolume {
    let mut lut = [1u8; 256];
    lut[0] = 0;
    let components = connected_components_26(labels, &lut);
    let mut kept = labels.clone();
    kept.voxels.iter_mut().for_each(|v| *v = 0);
    let largest = components.iter().map(Vec::len).max().unwrap_or(0);
    let min_voxels = (MIN_ORGAN_PIECE_FRACTION * largest as f64).ceil() as usize;
    for piece in components.iter().filter(|c| c.len() >= min_voxels.max(1)) {
        for &[x, y, z] in piece {
            let i = labels.grid.index(x as usize, y as usize, z as usize);
            kept.voxels[i] = labels.voxels[i];
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Volume;

    fn labels_with_box(
        dims: [usize; 3],
        spacing: [f64; 3],
        lo: [usize; 3],
        hi: [usize; 3],
    ) -> LabelVolume {
        let grid = Grid::axis_aligned(dims, spacing, [0.0; 3]).unwrap();
        let voxels = (0..dims.iter().product())
            .map(|i| {
                let v = grid.coords(i);
                u8::from((0..3).all(|a| v[a] >= lo[a] && v[a] <= hi[a]))
            })
            .collect();
        Volume::new(grid, voxels).unwrap()
    }

    #[test]
    fn the_cube_is_centred_on_the_organ_with_its_longest_side_plus_margins() {
        // Organ: x 10..=29 (20 voxels × 1 mm), y 5..=14 (10 × 2 mm), z 4..=7 (4 × 5 mm).
        let labels = labels_with_box([40, 30, 12], [1.0, 2.0, 5.0], [10, 5, 4], [29, 14, 7]);
        let cube = organ_cube(&labels, 5.0).unwrap();
        // Longest side: 20 mm (x and y tie) + 2 × 5 mm = 30 mm on every axis.
        for (a, size) in cube.size_mm(&labels.grid).into_iter().enumerate() {
            assert!((size - 30.0).abs() < 1e-9, "axis {a}: {size} mm");
        }
        let centre = [0, 1, 2].map(|a| 0.5 * (cube.first[a] + cube.last[a]));
        assert_eq!(centre, [19.5, 9.5, 5.5]);
        assert!(cube.contains([19, 9, 5]) && cube.contains([5, 2, 3]));
        assert!(!cube.contains([4, 9, 5]), "x face at 19.5 − 15 = 4.5");
        assert!(!cube.contains([19, 9, 9]), "z face at 5.5 + 3 = 8.5");
        let empty = labels_with_box([4, 4, 4], [1.0; 3], [9; 3], [0; 3]);
        assert_eq!(organ_cube(&empty, 5.0), None);
    }

    #[test]
    fn labels_survive_the_trip_through_a_64_cube_and_back() {
        use crate::model::preprocess::{Preprocessing, model_volume};
        use crate::volume::phantom::{PhantomOptions, generate_case};
        use crate::volume::{Interpolation, resample_onto};
        let case = generate_case(
            crate::volume::decathlon::Task::Liver,
            3,
            &PhantomOptions::small(),
        )
        .unwrap();
        let truth = &case.labels;
        let cube = organ_cube(truth, 10.0).unwrap();
        let pre = Preprocessing::cube(64);
        let on_model = pre.target_labels(truth, Some(&cube));
        let model = model_volume(&pre, &truth.grid, Some(&cube), on_model).unwrap();
        let back = resample_onto(&model, &truth.grid, Interpolation::Nearest);
        let organ = |v: &[u8]| v.iter().map(|&l| l >= 1).collect::<Vec<_>>();
        let (a, b) = (organ(&truth.voxels), organ(&back.voxels));
        let both = a.iter().zip(&b).filter(|(x, y)| **x && **y).count();
        let dice = 2.0 * both as f64
            / (a.iter().filter(|x| **x).count() + b.iter().filter(|x| **x).count()) as f64;
        assert!(dice > 0.95, "organ Dice after the round trip {dice:.3}");
    }

    #[test]
    fn stray_voxels_are_dropped_before_the_cube_is_taken() {
        let mut labels = labels_with_box([30, 30, 30], [1.0; 3], [5, 5, 5], [12, 12, 12]);
        let stray = labels.grid.index(28, 28, 28);
        labels.voxels[stray] = 1;
        let kept = main_organ_pieces(&labels);
        assert_eq!(kept.voxels[stray], 0);
        assert_eq!(kept.voxels.iter().filter(|&&v| v == 1).count(), 8 * 8 * 8);
        let cube = organ_cube(&kept, 0.0).unwrap();
        assert_eq!((cube.first, cube.last), ([5.0; 3], [12.0; 3]));
    }

    #[test]
    fn an_organ_found_in_pieces_keeps_every_sizeable_piece() {
        // A 512-voxel piece, a 27-voxel piece (5.3 %, kept, tumour label and all) and a
        // 25-voxel speck (4.9 %, dropped).
        let mut labels = labels_with_box([40, 30, 30], [1.0; 3], [5, 5, 5], [12, 12, 12]);
        let set = |labels: &mut LabelVolume, lo: [usize; 3], hi: [usize; 3], label: u8| {
            for i in 0..labels.voxels.len() {
                let v = labels.grid.coords(i);
                if (0..3).all(|a| v[a] >= lo[a] && v[a] <= hi[a]) {
                    labels.voxels[i] = label;
                }
            }
        };
        set(&mut labels, [20, 5, 5], [22, 7, 7], 2);
        set(&mut labels, [30, 20, 20], [34, 24, 20], 1);
        let kept = main_organ_pieces(&labels);
        let count = |label: u8| kept.voxels.iter().filter(|&&v| v == label).count();
        assert_eq!((count(1), count(2)), (512, 27));
        let cube = organ_cube(&kept, 0.0).unwrap();
        assert_eq!(cube.first[0], 5.0);
        assert_eq!(cube.last[0], 22.0);
    }
}
