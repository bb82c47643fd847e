//! Hiding what lies around the organ from a model: on the model grid, every voxel farther
//! than a margin from the organ (labels ≥ 1: organ and tumour) takes the organ's median
//! intensity. Fat, gas and neighbouring organs are darker than any lesion, so a classifier
//! that sees them cannot use "darker than the organ" as its cue; with them filled it can.
//!
//! The organ comes from the ground truth in training and from the model's locator at
//! inference; the margin (a few mm) keeps a locator's slightly tight outline from cutting a
//! lesion at the organ's edge.

use serde::{Deserialize, Serialize};

use crate::volume::Grid;

/// What a model sees outside the organ, inside its region.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OutsideOrgan {
    /// The CT as it is.
    #[default]
    Keep,
    /// Voxels farther than `margin_mm` from every organ voxel take the organ's median; a
    /// negative margin keeps only voxels at least that deep inside the organ.
    FillWithOrganMedian { margin_mm: f64 },
}

impl OutsideOrgan {
    /// The margin in mm when filling, `None` when the CT is kept as it is.
    pub fn fill_margin_mm(&self) -> Option<f64> {
        match *self {
            OutsideOrgan::Keep => None,
            OutsideOrgan::FillWithOrganMedian { margin_mm } => Some(margin_mm),
        }
    }
}

/// Sets every voxel of `input` outside the organ grown by `margin_mm` to the median of
/// `input` over the organ. A negative margin shrinks the organ instead: only voxels at least
/// that deep inside it are kept (all of the organ when none is that deep), so that no fat of
/// a loose outline shows. `input` and `labels` are x-fastest on `grid` (the CT's own grid, so
/// that resampling afterwards blends the organ's edge with its median, not with fat; its
/// spacing gives the margin in voxels). Returns `false`, leaving `input` untouched, when
/// `labels` has no organ voxel.
pub fn fill_outside_organ(input: &mut [f32], labels: &[u8], grid: &Grid, margin_mm: f64) -> bool {
    assert_eq!(input.len(), labels.len(), "input and labels on one grid");
    assert_eq!(input.len(), grid.voxel_count(), "voxels of the grid");
    let organ: Vec<bool> = labels.iter().map(|&l| l >= 1).collect();
    let mut organ_values: Vec<f32> = input
        .iter()
        .zip(&organ)
        .filter(|&(_, &inside)| inside)
        .map(|(&v, _)| v)
        .collect();
    if organ_values.is_empty() {
        return false;
    }
    let middle = organ_values.len() / 2;
    let (_, &mut median, _) = organ_values.select_nth_unstable_by(middle, f32::total_cmp);
    let kept = kept_voxels(&organ, grid, margin_mm);
    for (v, kept) in input.iter_mut().zip(kept) {
        if !kept {
            *v = median;
        }
    }
    true
}

/// The voxels kept by a margin of `margin_mm` around `organ` (Euclidean, in mm on `grid`'s
/// spacing): with a margin ≥ 0 those within it of an organ voxel (the organ included); with a
/// negative one the organ voxels whose every neighbour within −`margin_mm` lies in the organ
/// (what lies beyond the grid is unknown and does not count), or all of the organ when none
/// does. The work grows
/// with the organ's voxels, not the grid's.
fn kept_voxels(organ: &[bool], grid: &Grid, margin_mm: f64) -> Vec<bool> {
    let offsets = ball_offsets(grid, margin_mm.abs());
    let dims = grid.dims.map(|d| d as i64);
    let neighbour = |i: usize, [dx, dy, dz]: [i64; 3]| {
        let [x, y, z] = grid.coords(i).map(|c| c as i64);
        let (nx, ny, nz) = (x + dx, y + dy, z + dz);
        ((0..dims[0]).contains(&nx) && (0..dims[1]).contains(&ny) && (0..dims[2]).contains(&nz))
            .then(|| grid.index(nx as usize, ny as usize, nz as usize))
    };
    let organ_voxels = organ
        .iter()
        .enumerate()
        .filter(|&(_, &o)| o)
        .map(|(i, _)| i);
    let mut kept = vec![false; organ.len()];
    if margin_mm >= 0.0 {
        for i in organ_voxels {
            for &offset in &offsets {
                if let Some(n) = neighbour(i, offset) {
                    kept[n] = true;
                }
            }
        }
    } else {
        for i in organ_voxels {
            kept[i] = offsets
                .iter()
                .all(|&offset| neighbour(i, offset).is_none_or(|n| organ[n]));
        }
        if !kept.contains(&true) {
            kept.copy_from_slice(organ);
        }
    }
    kept
}

/// The voxel offsets within `radius_mm` (≥ 0) of the origin on `grid`'s spacing.
fn ball_offsets(grid: &Grid, radius_mm: f64) -> Vec<[i64; 3]> {
    let spacing = grid.spacing_mm();
    let reach = spacing.map(|s| (radius_mm / s).floor() as i64);
    let mut offsets = Vec::new();
    for dz in -reach[2]..=reach[2] {
        for dy in -reach[1]..=reach[1] {
            for dx in -reach[0]..=reach[0] {
                let mm2: f64 = [dx, dy, dz]
                    .iter()
                    .zip(spacing)
                    .map(|(&d, s)| (d as f64 * s).powi(2))
                    .sum();
                if mm2 <= radius_mm * radius_mm {
                    offsets.push([dx, dy, dz]);
                }
            }
        }
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 9×9×9 grid of 2 mm voxels with one organ voxel at the centre.
    fn one_voxel_organ() -> (Grid, Vec<u8>) {
        let grid = Grid::axis_aligned([9, 9, 9], [2.0; 3], [0.0; 3]).unwrap();
        let mut labels = vec![0u8; grid.voxel_count()];
        labels[grid.index(4, 4, 4)] = 1;
        (grid, labels)
    }

    #[test]
    fn fills_beyond_the_margin_with_the_organ_median() {
        let grid = Grid::axis_aligned([6, 1, 1], [1.0; 3], [0.0; 3]).unwrap();
        // Organ: voxels 1..=3 (one of them tumour), values 10, 30, 20: median 20.
        let labels = [0u8, 1, 2, 1, 0, 0];
        let mut input = [-5.0f32, 10.0, 30.0, 20.0, -7.0, -9.0];
        assert!(fill_outside_organ(&mut input, &labels, &grid, 1.0));
        // Voxels 0 and 4 lie 1 mm from the organ: kept; voxel 5 (2 mm): filled.
        assert_eq!(input, [-5.0, 10.0, 30.0, 20.0, -7.0, 20.0]);
    }

    #[test]
    fn a_negative_margin_keeps_only_the_organs_depth() {
        let grid = Grid::axis_aligned([7, 1, 1], [1.0; 3], [0.0; 3]).unwrap();
        let labels = [0u8, 1, 1, 2, 1, 1, 0];
        let input = [-9.0f32, 10.0, 11.0, 30.0, 12.0, 13.0, -9.0];
        let filled = |margin_mm| {
            let mut v = input;
            assert!(fill_outside_organ(&mut v, &labels, &grid, margin_mm));
            v
        };
        // Median of the organ: 12. 1 mm deep: voxels 2..=4 kept; 2 mm: voxel 3 alone.
        assert_eq!(filled(-1.0), [12.0, 12.0, 11.0, 30.0, 12.0, 12.0, 12.0]);
        assert_eq!(filled(-2.0), [12.0, 12.0, 12.0, 30.0, 12.0, 12.0, 12.0]);
        // Deeper than the organ is thick: the organ itself is kept.
        assert_eq!(filled(-5.0), [12.0, 10.0, 11.0, 30.0, 12.0, 13.0, 12.0]);
    }

    #[test]
    fn the_margin_is_a_ball_in_millimetres() {
        let (grid, labels) = one_voxel_organ();
        let labels: Vec<bool> = labels.iter().map(|&l| l > 0).collect();
        let near = kept_voxels(&labels, &grid, 4.0);
        let at = |x, y, z| near[grid.index(x, y, z)];
        // 2 voxels of 2 mm along an axis: 4 mm, near; (1, 1, 1) voxels off: 3.46 mm, near;
        // (2, 1, 0): 4.47 mm, not; 3 voxels: 6 mm, not.
        assert!(at(4, 4, 4) && at(6, 4, 4) && at(4, 2, 4) && at(4, 4, 6));
        assert!(at(5, 5, 5) && at(3, 3, 3));
        assert!(!at(6, 5, 4) && !at(7, 4, 4) && !at(4, 4, 1));
        assert_eq!(near.iter().filter(|&&n| n).count(), 33);
        // No margin: the organ alone.
        let near = kept_voxels(&labels, &grid, 0.0);
        assert_eq!(near.iter().filter(|&&n| n).count(), 1);
    }

    #[test]
    fn without_an_organ_nothing_changes() {
        let (grid, mut labels) = one_voxel_organ();
        labels.iter_mut().for_each(|l| *l = 0);
        let mut input: Vec<f32> = (0..grid.voxel_count()).map(|i| i as f32).collect();
        let before = input.clone();
        assert!(!fill_outside_organ(&mut input, &labels, &grid, 5.0));
        assert_eq!(input, before);
    }

    #[test]
    fn the_choice_reads_back_from_json() {
        let fill = OutsideOrgan::FillWithOrganMedian { margin_mm: 5.0 };
        let json = serde_json::to_string(&fill).unwrap();
        assert_eq!(json, r#"{"kind":"fill_with_organ_median","margin_mm":5.0}"#);
        assert_eq!(serde_json::from_str::<OutsideOrgan>(&json).unwrap(), fill);
        assert_eq!(fill.fill_margin_mm(), Some(5.0));
        assert_eq!(OutsideOrgan::Keep.fill_margin_mm(), None);
    }
}
