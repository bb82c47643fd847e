//! Clean-up of a segmenter's labels on the CT grid: tumour specks too small to be lesions.

use crate::mesh::connected_components_26;
use crate::volume::LabelVolume;

/// Relabels as organ (1) every 26-connected piece of tumour (label 2) in `labels` smaller than
/// `min_lesion_ml` mL (a tumour lies inside its organ); returns how many pieces it relabelled.
pub fn drop_small_lesions(labels: &mut LabelVolume, min_lesion_ml: f64) -> usize {
    let voxel_ml = labels.grid.voxel_volume_ml();
    let mut tumour = [0u8; 256];
    tumour[2] = 1;
    let mut dropped = 0;
    for piece in connected_components_26(labels, &tumour) {
        if piece.len() as f64 * voxel_ml < min_lesion_ml {
            dropped += 1;
            for [x, y, z] in piece {
                let i = labels.grid.index(x as usize, y as usize, z as usize);
                labels.voxels[i] = 1;
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, Volume};

    #[test]
    fn pieces_below_the_volume_become_organ_and_larger_ones_stay() {
        // 2 mm voxels (0.008 mL): a 3³ piece (0.216 mL), a 2³ piece (0.064 mL) and a single
        // voxel touching the 3³ piece at a corner (so part of it).
        let grid = Grid::axis_aligned([12, 12, 12], [2.0; 3], [0.0; 3]).unwrap();
        let mut voxels = vec![1u8; grid.voxel_count()];
        let mut set = |lo: [usize; 3], edge: usize| {
            for z in lo[2]..lo[2] + edge {
                for y in lo[1]..lo[1] + edge {
                    for x in lo[0]..lo[0] + edge {
                        voxels[grid.index(x, y, z)] = 2;
                    }
                }
            }
        };
        set([1, 1, 1], 3);
        set([4, 4, 4], 1);
        set([8, 8, 8], 2);
        let mut labels = Volume::new(grid, voxels).unwrap();
        let before = labels.clone();
        assert_eq!(drop_small_lesions(&mut labels, 0.1), 1);
        let tumour = |l: &LabelVolume| l.voxels.iter().filter(|&&v| v == 2).count();
        assert_eq!(
            tumour(&labels),
            28,
            "the 3³ piece and its corner voxel stay"
        );
        assert_eq!(labels.voxels[labels.grid.index(8, 8, 8)], 1);
        assert!(
            labels.voxels.iter().all(|&v| v != 0),
            "no voxel left the organ"
        );
        let mut all_kept = before.clone();
        assert_eq!(drop_small_lesions(&mut all_kept, 0.0), 0);
        assert_eq!(all_kept.voxels, before.voxels);
    }
}
