//! Voxel grid geometry: dimensions and the voxel → world (RAS+ millimetre) affine.
//!
//! Memory order everywhere in `volume` is x-fastest (NIfTI / Fortran order):
//! `index = x + nx * (y + ny * z)`.

use nalgebra::{Matrix3, Matrix4, Point3, Vector3};

use super::VolumeError;

/// The geometry of a 3D voxel grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Voxel counts along the grid's x, y and z axes.
    pub dims: [usize; 3],
    /// Maps voxel indices `(i, j, k, 1)` to RAS+ world millimetres.
    pub world_from_voxel: Matrix4<f64>,
}

impl Grid {
    /// Builds a grid, refusing empty dimensions and affines that are not finite or not invertible.
    pub fn new(dims: [usize; 3], world_from_voxel: Matrix4<f64>) -> Result<Self, VolumeError> {
        if dims.contains(&0) {
            return Err(VolumeError::geometry(format!("empty grid {dims:?}")));
        }
        if world_from_voxel.iter().any(|v| !v.is_finite()) {
            return Err(VolumeError::geometry("affine contains NaN or infinity"));
        }
        let linear: Matrix3<f64> = world_from_voxel.fixed_view::<3, 3>(0, 0).into();
        let det = linear.determinant();
        let scale = linear.column_iter().map(|c| c.norm()).product::<f64>();
        if scale <= 0.0 || det.abs() <= 1e-6 * scale {
            return Err(VolumeError::geometry(
                "affine is singular (zero spacing or collinear axes)",
            ));
        }
        Ok(Self {
            dims,
            world_from_voxel,
        })
    }

    /// An axis-aligned RAS grid with the given spacing and world position of voxel (0, 0, 0).
    pub fn axis_aligned(
        dims: [usize; 3],
        spacing_mm: [f64; 3],
        origin_mm: [f64; 3],
    ) -> Result<Self, VolumeError> {
        let mut m = Matrix4::identity();
        for a in 0..3 {
            m[(a, a)] = spacing_mm[a];
            m[(a, 3)] = origin_mm[a];
        }
        Self::new(dims, m)
    }

    /// Number of voxels.
    pub fn voxel_count(&self) -> usize {
        self.dims.iter().product()
    }

    /// Linear index of voxel `(x, y, z)` in x-fastest order.
    #[inline]
    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        x + self.dims[0] * (y + self.dims[1] * z)
    }

    /// Voxel `(x, y, z)` of a linear x-fastest index.
    #[inline]
    pub fn coords(&self, index: usize) -> [usize; 3] {
        let x = index % self.dims[0];
        let yz = index / self.dims[0];
        [x, yz % self.dims[1], yz / self.dims[1]]
    }

    /// Voxel edge lengths in millimetres along the grid's x, y and z axes.
    pub fn spacing_mm(&self) -> [f64; 3] {
        let c = |a: usize| self.world_from_voxel.fixed_view::<3, 1>(0, a).norm();
        [c(0), c(1), c(2)]
    }

    /// Volume of one voxel in millilitres (1 mL = 1000 mm³).
    pub fn voxel_volume_ml(&self) -> f64 {
        let linear: Matrix3<f64> = self.world_from_voxel.fixed_view::<3, 3>(0, 0).into();
        linear.determinant().abs() / 1000.0
    }

    /// Maps world millimetres back to (fractional) voxel indices.
    pub fn voxel_from_world(&self) -> Matrix4<f64> {
        // `new` refused singular affines, so the inverse exists.
        self.world_from_voxel
            .try_inverse()
            .unwrap_or_else(Matrix4::identity)
    }

    /// World position (RAS+ mm) of a (fractional) voxel position.
    pub fn world_of_voxel(&self, voxel: [f64; 3]) -> Point3<f64> {
        self.world_from_voxel
            .transform_point(&Point3::new(voxel[0], voxel[1], voxel[2]))
    }

    /// Unit world direction of each voxel axis (columns of the linear part).
    pub fn axis_directions(&self) -> [Vector3<f64>; 3] {
        let c = |a: usize| -> Vector3<f64> {
            self.world_from_voxel.fixed_view::<3, 1>(0, a).normalize()
        };
        [c(0), c(1), c(2)]
    }

    /// Three-letter orientation code of the voxel axes, e.g. `"RAS"` or `"LPS"`:
    /// for each voxel axis, the world direction its index increases toward.
    pub fn orientation_code(&self) -> String {
        self.axis_directions()
            .iter()
            .map(|d| {
                let (axis, value) = (0..3)
                    .map(|w| (w, d[w]))
                    .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                    .unwrap_or((0, 1.0));
                ras_axis_letter(axis, value >= 0.0)
            })
            .collect()
    }
}

/// The anatomical letter of the positive (`true`) or negative end of RAS+ world axis `axis`
/// (0 x: R/L, 1 y: A/P, 2 z: S/I).
pub fn ras_axis_letter(axis: usize, positive_end: bool) -> char {
    match (axis, positive_end) {
        (0, true) => 'R',
        (0, false) => 'L',
        (1, true) => 'A',
        (1, false) => 'P',
        (_, true) => 'S',
        (_, false) => 'I',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_coords_round_trip() {
        let g = Grid::axis_aligned([2, 3, 4], [1.0; 3], [0.0; 3]).unwrap();
        for i in 0..g.voxel_count() {
            let [x, y, z] = g.coords(i);
            assert_eq!(g.index(x, y, z), i);
        }
        assert_eq!(g.index(1, 2, 3), 1 + 2 * (2 + 3 * 3));
    }

    #[test]
    fn refuses_singular_and_nan_affines() {
        let mut m = Matrix4::identity();
        m[(2, 2)] = 0.0;
        assert!(Grid::new([2, 2, 2], m).is_err());
        m[(2, 2)] = f64::NAN;
        assert!(Grid::new([2, 2, 2], m).is_err());
        assert!(Grid::axis_aligned([0, 2, 2], [1.0; 3], [0.0; 3]).is_err());
    }

    #[test]
    fn spacing_volume_and_orientation() {
        let mut m = Matrix4::identity();
        m[(0, 0)] = -0.8;
        m[(1, 1)] = 0.9;
        m[(2, 2)] = 1.5;
        let g = Grid::new([4, 4, 4], m).unwrap();
        let s = g.spacing_mm();
        assert!((s[0] - 0.8).abs() < 1e-12 && (s[2] - 1.5).abs() < 1e-12);
        assert!((g.voxel_volume_ml() - 0.8 * 0.9 * 1.5 / 1000.0).abs() < 1e-12);
        assert_eq!(g.orientation_code(), "LAS");
    }
}
