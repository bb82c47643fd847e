//! Lesion matching between a ground truth and a prediction on the same grid: which true lesions
//! were found (a predicted tumour voxel overlaps them), which were missed, and which predicted
//! lesions are spurious (no true tumour voxel under them).

use super::Structure;
use super::lesions::ranked_tumour_components;
use crate::volume::LabelVolume;

/// The outcome per lesion, in the order of each map's lesion table with the same
/// `min_lesion_ml` (entry n − 1 is lesion `id` n).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct LesionMatching {
    /// For each true lesion: overlapped by the prediction.
    pub truth_found: Vec<bool>,
    /// For each true lesion: its volume, mL.
    pub truth_volume_ml: Vec<f64>,
    /// For each predicted lesion: overlaps a true lesion.
    pub prediction_confirmed: Vec<bool>,
}

impl LesionMatching {
    pub fn found(&self) -> usize {
        self.truth_found.iter().filter(|&&f| f).count()
    }

    pub fn missed(&self) -> usize {
        self.truth_found.len() - self.found()
    }

    pub fn spurious(&self) -> usize {
        self.prediction_confirmed.iter().filter(|&&c| !c).count()
    }
}

/// Matches the lesions of `truth` and `prediction` (same grid), ignoring components smaller
/// than `min_lesion_ml` on either side as the lesion table does. `None` when the grids differ.
pub fn match_lesions(
    truth: &LabelVolume,
    prediction: &LabelVolume,
    min_lesion_ml: f64,
) -> Option<LesionMatching> {
    if truth.grid.dims != prediction.grid.dims {
        return None;
    }
    let voxel_ml = truth.grid.voxel_volume_ml();
    let lesions = |labels: &LabelVolume| -> Vec<Vec<[u32; 3]>> {
        let mut components = ranked_tumour_components(labels);
        components.retain(|c| c.len() as f64 * voxel_ml >= min_lesion_ml);
        components
    };
    let overlaps = |components: &[Vec<[u32; 3]>], other: &LabelVolume| -> Vec<bool> {
        components
            .iter()
            .map(|c| {
                c.iter().any(|&[x, y, z]| {
                    let i = other.grid.index(x as usize, y as usize, z as usize);
                    other.voxels[i] == Structure::TUMOUR_LABEL
                })
            })
            .collect()
    };
    let (true_lesions, predicted_lesions) = (lesions(truth), lesions(prediction));
    Some(LesionMatching {
        truth_found: overlaps(&true_lesions, prediction),
        truth_volume_ml: true_lesions
            .iter()
            .map(|c| c.len() as f64 * voxel_ml)
            .collect(),
        prediction_confirmed: overlaps(&predicted_lesions, truth),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::lesion_table;
    use crate::volume::{Grid, Volume};

    fn labels_with(blocks: &[([usize; 3], usize)]) -> LabelVolume {
        let grid = Grid::axis_aligned([20, 20, 20], [1.0; 3], [0.0; 3]).unwrap();
        let mut voxels = vec![1u8; grid.voxel_count()];
        for &(corner, edge) in blocks {
            for z in corner[2]..corner[2] + edge {
                for y in corner[1]..corner[1] + edge {
                    for x in corner[0]..corner[0] + edge {
                        voxels[grid.index(x, y, z)] = 2;
                    }
                }
            }
        }
        Volume::new(grid, voxels).unwrap()
    }

    #[test]
    fn found_missed_and_spurious_follow_the_lesion_tables() {
        // Truth: a big lesion (found) and a small one (missed).
        let truth = labels_with(&[([2, 2, 2], 5), ([14, 14, 14], 3)]);
        // Prediction: part of the big one, plus a spurious lesion elsewhere.
        let prediction = labels_with(&[([3, 3, 3], 2), ([2, 14, 2], 4)]);
        let m = match_lesions(&truth, &prediction, 0.0).unwrap();
        assert_eq!(m.truth_found, vec![true, false]);
        // 5³ and 3³ voxels of 1 mm³.
        assert!(
            (m.truth_volume_ml[0] - 0.125).abs() < 1e-12,
            "{:?}",
            m.truth_volume_ml
        );
        assert!(
            (m.truth_volume_ml[1] - 0.027).abs() < 1e-12,
            "{:?}",
            m.truth_volume_ml
        );
        // Predicted table order: the 4³ lesion (spurious) before the 2³ (confirmed).
        assert_eq!(m.prediction_confirmed, vec![false, true]);
        assert_eq!((m.found(), m.missed(), m.spurious()), (1, 1, 1));
        assert_eq!(lesion_table(&prediction, 0.0).lesions[0].voxel_count, 64);
        // A size filter drops the 27-voxel (0.027 mL) true lesion from both table and matching.
        let filtered = match_lesions(&truth, &prediction, 0.05).unwrap();
        assert_eq!(filtered.truth_found, vec![true]);
        assert_eq!(lesion_table(&truth, 0.05).lesions.len(), 1);
    }
}
