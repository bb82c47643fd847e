//! [`PaddedField`]: one structure's voxels cropped to its bounding box and padded by one empty
//! voxel on every side, the input of marching cubes and of component labelling.
//!
//! The padding is what closes surfaces of structures that touch the volume border, and it lets
//! neighbour loops run without bounds checks.

use rayon::prelude::*;

use crate::volume::LabelVolume;

/// An inclusive box of voxel indices `min ..= max` on each axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VoxelBox {
    pub min: [usize; 3],
    pub max: [usize; 3],
}

impl VoxelBox {
    /// Voxel counts along x, y, z.
    pub fn dims(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.max[a] - self.min[a] + 1)
    }

    fn union(self, other: VoxelBox) -> VoxelBox {
        VoxelBox {
            min: [0, 1, 2].map(|a| self.min[a].min(other.min[a])),
            max: [0, 1, 2].map(|a| self.max[a].max(other.max[a])),
        }
    }

    /// The box of voxels whose mapped value `lut[label]` is non-zero; `None` when there are none.
    pub fn of_labels(labels: &LabelVolume, lut: &[u8; 256]) -> Option<VoxelBox> {
        let [nx, ny, _] = labels.grid.dims;
        let background_is_empty = lut[0] == 0;
        labels
            .voxels
            .par_chunks(nx * ny)
            .enumerate()
            .filter_map(|(z, plane)| {
                let mut found: Option<VoxelBox> = None;
                for (y, row) in plane.chunks_exact(nx).enumerate() {
                    // Most rows of a CT label map are all background: an OR over the row
                    // (no early exit, so it vectorises) skips them cheaply.
                    if background_is_empty && row.iter().fold(0u8, |any, &v| any | v) == 0 {
                        continue;
                    }
                    let inside = |v: &u8| lut[*v as usize] != 0;
                    let Some(first) = row.iter().position(inside) else {
                        continue;
                    };
                    let last = row.iter().rposition(inside).unwrap_or(first);
                    let row_box = VoxelBox {
                        min: [first, y, z],
                        max: [last, y, z],
                    };
                    found = Some(found.map_or(row_box, |b| b.union(row_box)));
                }
                found
            })
            .reduce_with(VoxelBox::union)
    }
}

/// A scalar `u8` field over a structure's bounding box plus one voxel of zeros on every side.
#[derive(Debug, Clone, PartialEq)]
pub struct PaddedField {
    /// Sample counts along x, y, z (bounding box dimensions + 2).
    pub dims: [usize; 3],
    /// Voxel index, in the source grid, of sample `(0, 0, 0)`: the bounding box minimum − 1.
    pub origin_voxel: [i64; 3],
    /// `dims` product values, x-fastest; zero on the padding.
    pub samples: Vec<u8>,
}

impl PaddedField {
    /// Crops `labels` to the box of voxels with non-zero `lut[label]`, maps every voxel through
    /// `lut` and pads with zeros. `None` when no voxel maps to a non-zero value.
    pub fn from_labels(labels: &LabelVolume, lut: &[u8; 256]) -> Option<PaddedField> {
        let bbox = VoxelBox::of_labels(labels, lut)?;
        let [bx, by, bz] = bbox.dims();
        let dims = [bx + 2, by + 2, bz + 2];
        let mut samples = vec![0u8; dims.iter().product()];
        let grid = &labels.grid;
        samples
            .par_chunks_mut(dims[0] * dims[1])
            .enumerate()
            .skip(1)
            .take(bz)
            .for_each(|(pz, plane)| {
                let z = bbox.min[2] + pz - 1;
                for py in 1..=by {
                    let y = bbox.min[1] + py - 1;
                    let src = grid.index(bbox.min[0], y, z);
                    let src = &labels.voxels[src..src + bx];
                    let dst = &mut plane[py * dims[0] + 1..py * dims[0] + 1 + bx];
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = lut[s as usize];
                    }
                }
            });
        let origin_voxel = bbox.min.map(|m| m as i64 - 1);
        Some(PaddedField {
            dims,
            origin_voxel,
            samples,
        })
    }

    /// Linear index of sample `(x, y, z)`, x-fastest.
    #[inline]
    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        x + self.dims[0] * (y + self.dims[1] * z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, Volume};

    #[test]
    fn crops_pads_and_maps() {
        let grid = Grid::axis_aligned([4, 5, 6], [1.0; 3], [0.0; 3]).unwrap();
        let mut labels = Volume::filled(grid, 0u8);
        let i = labels.grid.index(1, 2, 3);
        labels.voxels[i] = 2;
        let j = labels.grid.index(3, 4, 3);
        labels.voxels[j] = 1;
        let lut: [u8; 256] = std::array::from_fn(|l| u8::from(l >= 1));
        let b = VoxelBox::of_labels(&labels, &lut).unwrap();
        assert_eq!((b.min, b.max), ([1, 2, 3], [3, 4, 3]));
        let f = PaddedField::from_labels(&labels, &lut).unwrap();
        assert_eq!(f.dims, [5, 5, 3]);
        assert_eq!(f.origin_voxel, [0, 1, 2]);
        assert_eq!(f.samples.iter().map(|&v| v as usize).sum::<usize>(), 2);
        assert_eq!(f.samples[f.index(1, 1, 1)], 1);
        assert_eq!(f.samples[f.index(3, 3, 1)], 1);
        let none: [u8; 256] = [0; 256];
        assert!(PaddedField::from_labels(&labels, &none).is_none());
    }
}
