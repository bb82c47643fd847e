//! Plane geometry of the three slice views: which voxel axis runs along a view's columns and
//! rows, in which direction, and what the orientation letters at its edges are.
//!
//! Volumes are in RAS+ voxel order after loading (voxel x grows toward the patient's Right,
//! y toward Anterior, z toward Superior), so a view is a fixed choice of two axes and two
//! directions; no interpolation.

use serde::{Deserialize, Serialize};

use crate::volume::{Grid, ras_axis_letter};

/// The three orthogonal views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Plane {
    /// Constant z (superior–inferior): seen from the feet.
    Axial,
    /// Constant y (anterior–posterior): seen from the front.
    Coronal,
    /// Constant x (right–left): seen from the patient's left... or right, by convention.
    Sagittal,
}

/// Which side of the patient appears on the screen's left in axial and coronal views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Convention {
    /// The patient's right on the screen's left, as radiologists read CT (the default).
    #[default]
    Radiological,
    /// The patient's left on the screen's left.
    Neurological,
}

/// How a plane's pixels map to voxels: pixel `(column, row)` (row 0 at the top) of slice
/// `index` is voxel `voxel_at(column, row, index)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneLayout {
    pub plane: Plane,
    /// Voxel axis (0 x, 1 y, 2 z) along the columns, and whether it decreases left to right.
    pub column_axis: usize,
    pub column_reversed: bool,
    /// Voxel axis along the rows, and whether it decreases top to bottom.
    pub row_axis: usize,
    pub row_reversed: bool,
}

impl Plane {
    /// The three views in their usual screen order.
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
        }
    }

    /// The voxel axis normal to the plane: the one a slice index runs along.
    pub fn normal_axis(self) -> usize {
        match self {
            Plane::Axial => 2,
            Plane::Coronal => 1,
            Plane::Sagittal => 0,
        }
    }

    /// The layout of this view under `convention`. Rows always put anterior (axial) or
    /// superior (coronal, sagittal) at the top; the sagittal view puts anterior on the left.
    pub fn layout(self, convention: Convention) -> PlaneLayout {
        // Voxel x grows toward the patient's right: radiological puts high x on the left.
        let x_reversed = convention == Convention::Radiological;
        let (column_axis, column_reversed, row_axis) = match self {
            Plane::Axial => (0, x_reversed, 1),
            Plane::Coronal => (0, x_reversed, 2),
            Plane::Sagittal => (1, true, 2),
        };
        PlaneLayout {
            plane: self,
            column_axis,
            column_reversed,
            row_axis,
            row_reversed: true,
        }
    }
}

/// Orientation letters at the four edges of a view: left, right, top, bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLetters {
    pub left: char,
    pub right: char,
    pub top: char,
    pub bottom: char,
}

impl PlaneLayout {
    /// Pixel size of one slice `(columns, rows)` for a volume of `dims` voxels.
    pub fn image_size(&self, dims: [usize; 3]) -> (usize, usize) {
        (dims[self.column_axis], dims[self.row_axis])
    }

    /// Number of slices along the plane's normal.
    pub fn slice_count(&self, dims: [usize; 3]) -> usize {
        dims[self.plane.normal_axis()]
    }

    /// Physical size of one pixel `(width, height)` in mm.
    pub fn pixel_size_mm(&self, spacing_mm: [f64; 3]) -> (f64, f64) {
        (spacing_mm[self.column_axis], spacing_mm[self.row_axis])
    }

    /// The voxel shown at pixel `(column, row)` of slice `index`.
    pub fn voxel_at(
        &self,
        dims: [usize; 3],
        column: usize,
        row: usize,
        index: usize,
    ) -> [usize; 3] {
        let along = |axis: usize, i: usize, reversed: bool| {
            if reversed { dims[axis] - 1 - i } else { i }
        };
        let mut voxel = [0; 3];
        voxel[self.column_axis] = along(self.column_axis, column, self.column_reversed);
        voxel[self.row_axis] = along(self.row_axis, row, self.row_reversed);
        voxel[self.plane.normal_axis()] = index;
        voxel
    }

    /// Inverse of [`Self::voxel_at`]: the pixel `(column, row)` of `voxel` and its slice index.
    pub fn pixel_of(&self, dims: [usize; 3], voxel: [usize; 3]) -> (usize, usize, usize) {
        let along = |axis: usize, reversed: bool| {
            if reversed {
                dims[axis] - 1 - voxel[axis]
            } else {
                voxel[axis]
            }
        };
        (
            along(self.column_axis, self.column_reversed),
            along(self.row_axis, self.row_reversed),
            voxel[self.plane.normal_axis()],
        )
    }

    /// World (RAS+ mm) positions of the outer corners of slice `index`'s image on `grid`:
    /// top-left, top-right, bottom-right, bottom-left, i.e. texture coordinates (0, 0), (1, 0),
    /// (1, 1), (0, 1). Corners lie on voxel edges (half a voxel outside the outer voxel
    /// centres), so a texture stretched over them puts each pixel on its voxel.
    pub fn world_corners_mm(&self, grid: &Grid, index: usize) -> [[f64; 3]; 4] {
        let dims = grid.dims;
        // Continuous voxel coordinate of image edge `edge` (0 or the pixel count) on `axis`.
        let voxel_coordinate = |axis: usize, edge: f64, reversed: bool| {
            if reversed {
                dims[axis] as f64 - 0.5 - edge
            } else {
                edge - 0.5
            }
        };
        let (width, height) = self.image_size(dims);
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].map(|(u, v)| {
            let mut voxel = [0.0; 3];
            voxel[self.column_axis] =
                voxel_coordinate(self.column_axis, u * width as f64, self.column_reversed);
            voxel[self.row_axis] =
                voxel_coordinate(self.row_axis, v * height as f64, self.row_reversed);
            voxel[self.plane.normal_axis()] = index as f64;
            let p = grid.world_of_voxel(voxel);
            [p.x, p.y, p.z]
        })
    }

    /// Letters at the view's edges: at the left edge the end of the column axis shown there.
    pub fn edge_letters(&self) -> EdgeLetters {
        // Left edge shows the column axis' high end when reversed; top the row axis' high end
        // when reversed.
        EdgeLetters {
            left: ras_axis_letter(self.column_axis, self.column_reversed),
            right: ras_axis_letter(self.column_axis, !self.column_reversed),
            top: ras_axis_letter(self.row_axis, self.row_reversed),
            bottom: ras_axis_letter(self.row_axis, !self.row_reversed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radiological_axial_shows_patient_right_on_the_left_and_anterior_on_top() {
        let layout = Plane::Axial.layout(Convention::Radiological);
        let letters = layout.edge_letters();
        assert_eq!(
            (letters.left, letters.right, letters.top, letters.bottom),
            ('R', 'L', 'A', 'P')
        );
        let dims = [10, 20, 30];
        // Top-left pixel: the most right (high x), most anterior (high y) voxel.
        assert_eq!(layout.voxel_at(dims, 0, 0, 5), [9, 19, 5]);
        assert_eq!(layout.image_size(dims), (10, 20));
    }

    #[test]
    fn world_corners_put_each_pixel_centre_on_its_voxel_centre() {
        // Spacing and origin differ per axis, so a swapped axis or a missed flip shows.
        let grid = Grid::axis_aligned([6, 5, 4], [0.8, 1.5, 2.5], [-10.0, 20.0, 5.0]).unwrap();
        for convention in [Convention::Radiological, Convention::Neurological] {
            for plane in Plane::ALL {
                let layout = plane.layout(convention);
                let index = 2;
                let corners = layout.world_corners_mm(&grid, index);
                let (w, h) = layout.image_size(grid.dims);
                // Bilinear position of texture coordinate (u, v) on the quad.
                let at = |u: f64, v: f64| -> [f64; 3] {
                    std::array::from_fn(|a| {
                        let top = corners[0][a] * (1.0 - u) + corners[1][a] * u;
                        let bottom = corners[3][a] * (1.0 - u) + corners[2][a] * u;
                        top * (1.0 - v) + bottom * v
                    })
                };
                for (column, row) in [(0, 0), (w - 1, 0), (1, h - 1), (w - 1, h - 1)] {
                    let voxel = layout.voxel_at(grid.dims, column, row, index);
                    let want = grid.world_of_voxel(voxel.map(|c| c as f64));
                    let got = at(
                        (column as f64 + 0.5) / w as f64,
                        (row as f64 + 0.5) / h as f64,
                    );
                    let error = (0..3).map(|a| (got[a] - want[a]).abs()).fold(0.0, f64::max);
                    assert!(
                        error < 1e-9,
                        "{plane:?} {convention:?} pixel ({column}, {row}): {got:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn neurological_flips_only_right_left() {
        let layout = Plane::Coronal.layout(Convention::Neurological);
        let letters = layout.edge_letters();
        assert_eq!(
            (letters.left, letters.right, letters.top, letters.bottom),
            ('L', 'R', 'S', 'I')
        );
        let sagittal = Plane::Sagittal
            .layout(Convention::Neurological)
            .edge_letters();
        assert_eq!((sagittal.left, sagittal.top), ('A', 'S'));
    }

    #[test]
    fn pixel_of_inverts_voxel_at_for_every_plane() {
        let dims = [7, 5, 4];
        for convention in [Convention::Radiological, Convention::Neurological] {
            for plane in Plane::ALL {
                let layout = plane.layout(convention);
                let (w, h) = layout.image_size(dims);
                for row in 0..h {
                    for column in 0..w {
                        let voxel = layout.voxel_at(
                            dims,
                            column,
                            row,
                            2.min(dims[plane.normal_axis()] - 1),
                        );
                        let (c, r, _) = layout.pixel_of(dims, voxel);
                        assert_eq!((c, r), (column, row), "{plane:?} {convention:?}");
                    }
                }
            }
        }
    }
}
