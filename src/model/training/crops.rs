//! Lesion crops for the U-Net: each training step sees a cube cut from each case's model grid,
//! half of the time around one of its true lesions (each lesion as likely as any other, so a
//! 6 mm lesion is visited as often as a 40 mm one), else anywhere. Smaller inputs make a step
//! cheaper and the lesion a larger share of what the loss sees. Validation and inference then
//! run the grid in overlapping tiles of the crop's size (`model::tiles`), so that instance
//! normalisation sees inputs like those it learnt from.

use anyhow::{Result, bail};

use crate::model::config::ModelKind;
use crate::model::losses::tumour_components;
use crate::volume::phantom::Rng;

/// The share of a case's crops centred on one of its lesions, when it has any (nnU-Net
/// oversamples foreground in a third of its patches; small lesions here need more).
pub const LESION_CROP_SHARE: f64 = 0.5;

/// The crop's edge must be a multiple of this: the U-Net halves its input three times.
pub const CROP_MULTIPLE: usize = 8;

/// The smallest crop edge (voxels), the smallest model grid: the U-Net's bottleneck then
/// sees 2³ voxels.
pub const MIN_CROP_VOXELS: usize = crate::model::preprocess::MIN_GRID;

/// Checks a crop edge (voxels) against the model kind and the grid `[nx, ny, nz]`.
pub fn check_crop(edge: usize, kind: ModelKind, grid: [usize; 3]) -> Result<()> {
    if kind == ModelKind::Cnn {
        bail!("lesion crops are for the U-Net; the classifier decides on the whole grid");
    }
    let smallest = grid.iter().copied().min().unwrap_or(0);
    if edge < MIN_CROP_VOXELS || !edge.is_multiple_of(CROP_MULTIPLE) || edge > smallest {
        bail!(
            "a lesion crop of {edge} voxels: it must be a multiple of {CROP_MULTIPLE} from \
             {MIN_CROP_VOXELS} to the grid's smallest side ({smallest})"
        );
    }
    Ok(())
}

/// Where a crop of `edge` voxels a side starts in a grid `[nx, ny, nz]` holding `target`
/// (labels, x fastest): with probability [`LESION_CROP_SHARE`], when there is a lesion, around
/// a random voxel of a lesion picked uniformly among the lesions, shifted by up to a quarter
/// of the edge so that lesions are not always at the centre; else uniformly anywhere. Returns
/// the start `[x, y, z]` in voxels; the crop always lies inside the grid.
pub fn crop_origin(target: &[u8], grid: [usize; 3], edge: usize, rng: &mut Rng) -> [usize; 3] {
    let labels: Vec<u32> = target.iter().map(|&l| u32::from(l)).collect();
    let lesions = tumour_components(&labels, grid);
    let [nx, ny, _] = grid;
    let last_start = grid.map(|n| n.saturating_sub(edge));
    if lesions.is_empty() || !rng.chance(LESION_CROP_SHARE) {
        return last_start.map(|hi| rng.int_range(0, hi));
    }
    let lesion = &lesions[rng.int_range(0, lesions.len() - 1)];
    let voxel = lesion[rng.int_range(0, lesion.len() - 1)];
    let centre = [voxel % nx, (voxel / nx) % ny, voxel / (nx * ny)];
    let shift = edge / 4;
    let mut origin = [0usize; 3];
    for axis in 0..3 {
        let wanted = centre[axis] as i64 + rng.int_range(0, 2 * shift) as i64
            - shift as i64
            - (edge / 2) as i64;
        origin[axis] = wanted.clamp(0, last_start[axis] as i64) as usize;
    }
    origin
}

/// The cube of `edge` voxels a side starting at `origin` cut from `voxels` (one or more
/// channels of `grid` voxels each, x fastest, z slowest, channel slowest); the crop has the
/// same channel order and layout.
pub fn cut<T: Copy>(voxels: &[T], grid: [usize; 3], origin: [usize; 3], edge: usize) -> Vec<T> {
    let [nx, ny, nz] = grid;
    let channel = nx * ny * nz;
    let mut out = Vec::with_capacity(voxels.len() / channel * edge.pow(3));
    for source in voxels.chunks_exact(channel) {
        for z in origin[2]..origin[2] + edge {
            for y in origin[1]..origin[1] + edge {
                let row = origin[0] + nx * (y + ny * z);
                out.extend_from_slice(&source[row..row + edge]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: [usize; 3] = [48, 40, 56];

    fn index(x: usize, y: usize, z: usize) -> usize {
        x + GRID[0] * (y + GRID[1] * z)
    }

    #[test]
    fn a_crop_holds_the_voxels_of_its_cube_for_every_channel() {
        let channel = GRID.iter().product::<usize>();
        // Each voxel's value encodes its channel and position.
        let voxels: Vec<u32> = (0..2 * channel as u32).collect();
        let (origin, edge) = ([3, 5, 7], 32);
        let crop = cut(&voxels, GRID, origin, edge);
        assert_eq!(crop.len(), 2 * edge.pow(3));
        for (c, (x, y, z)) in [(0, (0, 0, 0)), (1, (31, 2, 17)), (1, (5, 31, 31))] {
            let at = c * edge.pow(3) + x + edge * (y + edge * z);
            let source = c * channel + index(origin[0] + x, origin[1] + y, origin[2] + z);
            assert_eq!(crop[at], source as u32);
        }
    }

    #[test]
    fn lesion_crops_visit_small_lesions_as_often_as_large_ones() {
        // A 1-voxel lesion near one corner and a 10 × 10 × 10 one near the other.
        let mut target = vec![1u8; GRID.iter().product()];
        target[index(4, 4, 4)] = 2;
        for z in 40..50 {
            for y in 25..35 {
                for x in 30..40 {
                    target[index(x, y, z)] = 2;
                }
            }
        }
        let edge = 32;
        let mut rng = Rng::new(7);
        let (mut small, mut large, mut draws) = (0, 0, 0);
        for _ in 0..2000 {
            let origin = crop_origin(&target, GRID, edge, &mut rng);
            for axis in 0..3 {
                assert!(
                    origin[axis] + edge <= GRID[axis],
                    "{origin:?} leaves the grid"
                );
            }
            let holds = |x: usize, y: usize, z: usize| {
                (origin[0]..origin[0] + edge).contains(&x)
                    && (origin[1]..origin[1] + edge).contains(&y)
                    && (origin[2]..origin[2] + edge).contains(&z)
            };
            small += usize::from(holds(4, 4, 4));
            large += usize::from(holds(35, 30, 45));
            draws += 1;
        }
        // Half the crops are centred on a lesion, a quarter on each; random crops add a
        // few more, the 1-voxel lesion in a corner least.
        let share = |n: usize| n as f64 / draws as f64;
        assert!(share(small) > 0.22, "small lesion in {small} of {draws}");
        assert!(share(large) > 0.22, "large lesion in {large} of {draws}");
        assert!((share(small) - share(large)).abs() < 0.2);
    }

    #[test]
    fn a_case_without_lesions_is_cropped_anywhere() {
        let target = vec![0u8; GRID.iter().product()];
        let mut rng = Rng::new(3);
        let origins: Vec<[usize; 3]> = (0..200)
            .map(|_| crop_origin(&target, GRID, 40, &mut rng))
            .collect();
        assert!(origins.iter().all(|o| o[0] <= 8 && o[1] == 0 && o[2] <= 16));
        // Every possible start along x is used.
        for x in 0..=8 {
            assert!(origins.iter().any(|o| o[0] == x), "x = {x} never drawn");
        }
    }

    #[test]
    fn crop_edges_are_checked() {
        assert!(check_crop(32, ModelKind::Unet, GRID).is_ok());
        assert!(check_crop(40, ModelKind::Unet, GRID).is_ok());
        assert!(check_crop(16, ModelKind::Unet, GRID).is_ok());
        for bad in [8, 36, 48] {
            let why = check_crop(bad, ModelKind::Unet, GRID)
                .unwrap_err()
                .to_string();
            assert!(
                why.contains(&bad.to_string()) && why.contains("40"),
                "{why}"
            );
        }
        assert!(check_crop(32, ModelKind::Cnn, GRID).is_err());
    }
}
