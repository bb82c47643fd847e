//! 26-connected component labelling of one structure of a label map.

use super::PaddedField;
use crate::volume::LabelVolume;

/// The 26-connected components of the voxels whose `lut[label]` is non-zero (voxels touching by
/// a face, an edge or a corner belong together).
///
/// Each component is the list of its voxel indices `(x, y, z)` in `labels.grid`. Components come
/// in the x-fastest scan order of their first voxel, so the output is deterministic.
pub fn connected_components_26(labels: &LabelVolume, lut: &[u8; 256]) -> Vec<Vec<[u32; 3]>> {
    let Some(mut field) = PaddedField::from_labels(labels, lut) else {
        return Vec::new();
    };
    let [nx, ny, _] = field.dims;
    let (sx, sy) = (nx as isize, (nx * ny) as isize);
    let mut offsets = Vec::with_capacity(26);
    for dz in -1..=1isize {
        for dy in -1..=1isize {
            for dx in -1..=1isize {
                if (dx, dy, dz) != (0, 0, 0) {
                    offsets.push(dx + sx * dy + sy * dz);
                }
            }
        }
    }
    let origin = field.origin_voxel;
    let voxel_of = |i: usize| -> [u32; 3] {
        let (x, yz) = (i % nx, i / nx);
        let p = [x, yz % ny, yz / ny];
        // Inside voxels never lie on the padding, so p + origin ≥ 0.
        [0, 1, 2].map(|a| (p[a] as i64 + origin[a]) as u32)
    };
    let samples = &mut field.samples;
    let mut components = Vec::new();
    let mut stack = Vec::new();
    for seed in 0..samples.len() {
        if samples[seed] == 0 {
            continue;
        }
        // Clearing a sample marks it visited; the zero padding keeps every neighbour in range.
        samples[seed] = 0;
        stack.push(seed);
        let mut voxels = Vec::new();
        while let Some(i) = stack.pop() {
            voxels.push(voxel_of(i));
            for &off in &offsets {
                let j = i.wrapping_add_signed(off);
                if samples[j] != 0 {
                    samples[j] = 0;
                    stack.push(j);
                }
            }
        }
        components.push(voxels);
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, Volume};

    #[test]
    fn corner_contact_joins_and_gaps_separate() {
        let grid = Grid::axis_aligned([6, 6, 6], [1.0; 3], [0.0; 3]).unwrap();
        let mut labels = Volume::filled(grid, 0u8);
        for v in [[0, 0, 0], [1, 1, 1], [4, 4, 5], [5, 5, 5]] {
            let i = labels.grid.index(v[0], v[1], v[2]);
            labels.voxels[i] = 2;
        }
        let lut: [u8; 256] = std::array::from_fn(|l| u8::from(l == 2));
        let mut c = connected_components_26(&labels, &lut);
        assert_eq!(c.len(), 2);
        c[0].sort_unstable();
        assert_eq!(c[0], vec![[0, 0, 0], [1, 1, 1]]);
        assert_eq!(c[1].len(), 2);
    }
}
