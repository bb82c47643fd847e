//! Reorientation of voxel grids by axis permutation and flips only (no interpolation).
//!
//! Loading brings every volume to RAS+ voxel order: voxel index x grows toward world +x (the
//! patient's Right), y toward +y (Anterior), z toward +z (Superior).
//! Writing a segmentation applies the inverse map to get back the file's own voxel order.

use nalgebra::Matrix4;
use rayon::prelude::*;

/// A permutation-and-flip map between two voxel orders of the same voxels.
///
/// Output axis `o` runs along input axis `source_axis[o]`, reversed when `flip[o]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisMap {
    pub source_axis: [usize; 3],
    pub flip: [bool; 3],
}

impl AxisMap {
    /// The map that changes nothing.
    pub const IDENTITY: AxisMap = AxisMap {
        source_axis: [0, 1, 2],
        flip: [false; 3],
    };

    /// The map from a grid with affine `world_from_voxel` to the RAS-ordered grid closest to it:
    /// the permutation whose voxel axes best align with world x, y, z (largest product of
    /// direction cosines, so oblique scans pick their dominant axes), then flips so that
    /// every index grows toward +x, +y, +z.
    pub fn to_ras(world_from_voxel: &Matrix4<f64>) -> AxisMap {
        // cosine[w][a]: |direction cosine| of voxel axis a along world axis w.
        let mut cosine = [[0.0f64; 3]; 3];
        for a in 0..3 {
            let col = world_from_voxel.fixed_view::<3, 1>(0, a);
            let norm = col.norm().max(f64::MIN_POSITIVE);
            for (w, row) in cosine.iter_mut().enumerate() {
                row[a] = col[w].abs() / norm;
            }
        }
        const PERMUTATIONS: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let source_axis = PERMUTATIONS
            .iter()
            .copied()
            .max_by(|p, q| {
                let score = |p: &[usize; 3]| (0..3).map(|w| cosine[w][p[w]]).product::<f64>();
                score(p).total_cmp(&score(q))
            })
            .unwrap_or([0, 1, 2]);
        let flip = [0, 1, 2].map(|w| world_from_voxel[(w, source_axis[w])] < 0.0);
        AxisMap { source_axis, flip }
    }

    /// Whether the map leaves the voxel order unchanged.
    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// The map that undoes this one.
    pub fn inverse(&self) -> AxisMap {
        let mut inv = AxisMap::IDENTITY;
        for o in 0..3 {
            let i = self.source_axis[o];
            inv.source_axis[i] = o;
            inv.flip[i] = self.flip[o];
        }
        inv
    }

    /// Output dimensions for input dimensions `input_dims`.
    pub fn output_dims(&self, input_dims: [usize; 3]) -> [usize; 3] {
        self.source_axis.map(|a| input_dims[a])
    }

    /// `input_from_output`: maps output voxel indices to input voxel indices (a 4×4 with one
    /// ±1 per row of the linear part).
    pub fn input_from_output(&self, input_dims: [usize; 3]) -> Matrix4<f64> {
        let mut m = Matrix4::zeros();
        m[(3, 3)] = 1.0;
        for o in 0..3 {
            let i = self.source_axis[o];
            if self.flip[o] {
                m[(i, o)] = -1.0;
                m[(i, 3)] = (input_dims[i] - 1) as f64;
            } else {
                m[(i, o)] = 1.0;
            }
        }
        m
    }

    /// The affine of the output grid given the input grid's `world_from_voxel`.
    pub fn output_affine(
        &self,
        world_from_input: &Matrix4<f64>,
        input_dims: [usize; 3],
    ) -> Matrix4<f64> {
        world_from_input * self.input_from_output(input_dims)
    }

    /// Reorders x-fastest voxels of an `input_dims` grid into the output order.
    pub fn apply<T: Copy + Send + Sync>(&self, input: &[T], input_dims: [usize; 3]) -> Vec<T> {
        assert_eq!(input.len(), input_dims.iter().product::<usize>());
        if self.is_identity() || input.is_empty() {
            return input.to_vec();
        }
        let mut out = vec![input[0]; input.len()];
        self.fill_rows(input_dims, &mut out, |dst, row| {
            if row.step == 1 {
                dst.copy_from_slice(&input[row.first..row.first + dst.len()]);
            } else {
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = input[row.input_index(x)];
                }
            }
        });
        out
    }

    /// Fills an output-ordered buffer row by row (x runs), in parallel over z slabs:
    /// `fill(dst_row, source)` must write the output row `dst_row` from the input voxels that
    /// `source` locates. Lets callers fuse a conversion with the reordering.
    pub fn fill_rows<T: Send>(
        &self,
        input_dims: [usize; 3],
        out: &mut [T],
        fill: impl Fn(&mut [T], SourceRow) + Sync,
    ) {
        let out_dims = self.output_dims(input_dims);
        assert_eq!(out.len(), out_dims.iter().product::<usize>());
        let input_stride = [1, input_dims[0], input_dims[0] * input_dims[1]];
        // For each output axis: step in the input's linear index, and its starting offset.
        let mut step = [0isize; 3];
        let mut start = 0isize;
        for o in 0..3 {
            let s = input_stride[self.source_axis[o]] as isize;
            if self.flip[o] {
                step[o] = -s;
                start += s * (out_dims[o] as isize - 1);
            } else {
                step[o] = s;
            }
        }
        let plane = out_dims[0] * out_dims[1];
        out.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
            for (y, dst) in slab.chunks_mut(out_dims[0]).enumerate() {
                let row = start + step[2] * z as isize + step[1] * y as isize;
                fill(
                    dst,
                    SourceRow {
                        first: row as usize,
                        step: step[0],
                    },
                );
            }
        });
    }
}

/// Where one output row's voxels lie in the input: output voxel x is input voxel
/// `first + step * x` (linear x-fastest indices).
#[derive(Debug, Clone, Copy)]
pub struct SourceRow {
    pub first: usize,
    pub step: isize,
}

impl SourceRow {
    /// Linear input index of output voxel `x` of this row.
    #[inline]
    pub fn input_index(&self, x: usize) -> usize {
        (self.first as isize + self.step * x as isize) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine(columns: [[f64; 3]; 3]) -> Matrix4<f64> {
        let mut m = Matrix4::identity();
        for (a, col) in columns.iter().enumerate() {
            for w in 0..3 {
                m[(w, a)] = col[w];
            }
        }
        m
    }

    #[test]
    fn ras_affine_is_identity_map() {
        let m = affine([[0.8, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 2.0]]);
        assert!(AxisMap::to_ras(&m).is_identity());
    }

    #[test]
    fn lps_and_permuted_axes_are_mapped() {
        let lps = affine([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]);
        let map = AxisMap::to_ras(&lps);
        assert_eq!(map.source_axis, [0, 1, 2]);
        assert_eq!(map.flip, [true, true, false]);
        // Voxel axis 0 runs superior, axis 1 left, axis 2 posterior ("SLP"-like).
        let perm = affine([[0.0, 0.0, 2.0], [-1.0, 0.0, 0.0], [0.0, -1.5, 0.0]]);
        let map = AxisMap::to_ras(&perm);
        assert_eq!(map.source_axis, [1, 2, 0]);
        assert_eq!(map.flip, [true, true, false]);
    }

    #[test]
    fn reordered_voxels_keep_their_world_positions() {
        let dims = [2, 3, 4];
        let world_from_input = {
            let mut m = affine([[0.0, 0.0, 2.0], [-1.0, 0.0, 0.0], [0.0, -1.5, 0.0]]);
            m[(0, 3)] = 10.0;
            m[(1, 3)] = -5.0;
            m
        };
        let values: Vec<u32> = (0..24).collect();
        let map = AxisMap::to_ras(&world_from_input);
        let out = map.apply(&values, dims);
        let out_dims = map.output_dims(dims);
        let world_from_output = map.output_affine(&world_from_input, dims);
        // Every output voxel holds the input value found at the same world position.
        let input_from_world = world_from_input.try_inverse().unwrap();
        for z in 0..out_dims[2] {
            for y in 0..out_dims[1] {
                for x in 0..out_dims[0] {
                    let w = world_from_output
                        * nalgebra::Vector4::new(x as f64, y as f64, z as f64, 1.0);
                    let i = input_from_world * w;
                    let idx = |v: f64| v.round() as usize;
                    let input_index = idx(i[0]) + dims[0] * (idx(i[1]) + dims[1] * idx(i[2]));
                    let out_index = x + out_dims[0] * (y + out_dims[1] * z);
                    assert_eq!(out[out_index], values[input_index]);
                }
            }
        }
        // The output affine is RAS: positive diagonal-dominant linear part.
        for a in 0..3 {
            assert!(world_from_output[(a, a)] > 0.0);
        }
        // And the inverse map restores the original order exactly.
        let back = map.inverse().apply(&out, out_dims);
        assert_eq!(back, values);
        assert_eq!(map.inverse().output_dims(out_dims), dims);
    }
}
