//! The lesion table: 26-connected tumour components with their voxel counts, volumes, longest
//! diameters, centroids and bounding boxes, plus organ and tumour totals. All volumes come from
//! voxel counts × voxel volume, never from meshes.

use rayon::prelude::*;

use super::{Structure, VoxelBox, connected_components_26, longest_diameter_mm};
use crate::volume::LabelVolume;

/// One tumour component.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lesion {
    /// 1-based rank by volume, largest first.
    pub id: usize,
    pub voxel_count: usize,
    /// Voxel count × voxel volume, in millilitres.
    pub volume_ml: f64,
    /// Largest distance between two of its voxel centres, world mm (see [`longest_diameter_mm`]).
    pub longest_diameter_mm: f64,
    /// Mean voxel centre in world (RAS+) mm.
    pub centroid_mm: [f64; 3],
    /// Inclusive voxel-index box in the label map's grid.
    pub bbox_voxel: VoxelBox,
}

/// Voxel count and volume of a structure.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct StructureVolume {
    pub voxel_count: usize,
    /// Voxel count × voxel volume, in millilitres.
    pub volume_ml: f64,
}

/// Lesions and volumes of one label map.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LesionTable {
    /// Components below this volume (mL) are ignored; 0 keeps all.
    pub min_lesion_ml: f64,
    /// The organ including its tumours (label ≥ 1).
    pub organ: StructureVolume,
    /// All tumour voxels (label 2), ignored components included.
    pub tumour: StructureVolume,
    /// The kept lesions, largest first.
    pub lesions: Vec<Lesion>,
    /// Summed volume of the kept lesions, mL.
    pub lesion_volume_ml: f64,
    /// Components smaller than `min_lesion_ml`.
    pub ignored_count: usize,
    /// Their summed volume, mL.
    pub ignored_volume_ml: f64,
    /// Kept lesion volume as a percentage of the organ volume; `None` without organ voxels.
    pub tumour_burden_percent: Option<f64>,
}

/// Builds the lesion table of `labels` (0 background, 1 organ, 2 tumour), ignoring tumour
/// components smaller than `min_lesion_ml` millilitres.
pub fn lesion_table(labels: &LabelVolume, min_lesion_ml: f64) -> LesionTable {
    let grid = &labels.grid;
    let voxel_ml = grid.voxel_volume_ml();
    let volume = |voxel_count: usize| StructureVolume {
        voxel_count,
        volume_ml: voxel_count as f64 * voxel_ml,
    };
    let count = |s: Structure| labels.voxels.par_iter().filter(|&&v| s.contains(v)).count();
    let organ = volume(count(Structure::Organ));
    let tumour = volume(count(Structure::Lesions));

    let components = ranked_tumour_components(labels);
    let lesions: Vec<Lesion> = components
        .par_iter()
        .map(|voxels| {
            let n = voxels.len();
            let mut sum = [0.0f64; 3];
            let mut bbox = VoxelBox {
                min: [usize::MAX; 3],
                max: [0; 3],
            };
            for v in voxels {
                for a in 0..3 {
                    let c = v[a] as usize;
                    sum[a] += c as f64;
                    bbox.min[a] = bbox.min[a].min(c);
                    bbox.max[a] = bbox.max[a].max(c);
                }
            }
            let centroid = grid.world_of_voxel(sum.map(|s| s / n as f64));
            Lesion {
                id: 0,
                voxel_count: n,
                volume_ml: n as f64 * voxel_ml,
                longest_diameter_mm: longest_diameter_mm(voxels, grid),
                centroid_mm: [centroid.x, centroid.y, centroid.z],
                bbox_voxel: bbox,
            }
        })
        .collect();
    let (kept, ignored): (Vec<Lesion>, Vec<Lesion>) = lesions
        .into_iter()
        .partition(|l| l.volume_ml >= min_lesion_ml);
    let lesions: Vec<Lesion> = kept
        .into_iter()
        .enumerate()
        .map(|(i, l)| Lesion { id: i + 1, ..l })
        .collect();
    let lesion_volume_ml = lesions.iter().map(|l| l.volume_ml).sum::<f64>();
    LesionTable {
        min_lesion_ml,
        organ,
        tumour,
        lesion_volume_ml,
        ignored_count: ignored.len(),
        ignored_volume_ml: ignored.iter().map(|l| l.volume_ml).sum(),
        tumour_burden_percent: (organ.voxel_count > 0)
            .then(|| 100.0 * lesion_volume_ml / organ.volume_ml),
        lesions,
    }
}

/// The 26-connected tumour components of `labels` in lesion-table order: largest first, ties
/// broken by the lowest z, then y, then x of their bounding boxes. Lesion `id` n is entry n − 1
/// (before the size filter).
pub fn ranked_tumour_components(labels: &LabelVolume) -> Vec<Vec<[u32; 3]>> {
    let mut components = connected_components_26(labels, &Structure::Lesions.mask_lut());
    let box_min = |voxels: &[[u32; 3]]| {
        let mut min = [u32::MAX; 3];
        for v in voxels {
            for a in 0..3 {
                min[a] = min[a].min(v[a]);
            }
        }
        [min[2], min[1], min[0]]
    };
    components.sort_by_cached_key(|c| (std::cmp::Reverse(c.len()), box_min(c)));
    components
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, Volume};

    #[test]
    fn sorts_filters_and_totals() {
        // 2 mm cubic voxels: 0.008 mL each.
        let grid = Grid::axis_aligned([10, 10, 10], [2.0; 3], [0.0; 3]).unwrap();
        let mut labels = Volume::filled(grid, 1u8);
        let mut set = |x, y, z| {
            let i = labels.grid.index(x, y, z);
            labels.voxels[i] = 2;
        };
        set(0, 0, 0);
        for x in 5..8 {
            set(x, 5, 5);
        }
        let t = lesion_table(&labels, 0.01);
        assert_eq!(t.organ.voxel_count, 1000);
        assert_eq!(t.tumour.voxel_count, 4);
        assert_eq!(t.lesions.len(), 1);
        assert_eq!(t.ignored_count, 1);
        assert!((t.ignored_volume_ml - 0.008).abs() < 1e-12);
        let l = &t.lesions[0];
        assert_eq!((l.id, l.voxel_count), (1, 3));
        assert!((l.longest_diameter_mm - 4.0).abs() < 1e-12);
        assert_eq!(l.centroid_mm, [12.0, 10.0, 10.0]);
        assert_eq!(l.bbox_voxel.min, [5, 5, 5]);
        let burden = t.tumour_burden_percent.unwrap();
        assert!((burden - 0.3).abs() < 1e-9);
    }
}
