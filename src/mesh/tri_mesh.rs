//! [`TriMesh`]: an indexed triangle mesh in world millimetres, with its area, enclosed volume and
//! bounds.

use rayon::prelude::*;

/// An indexed triangle mesh.
///
/// Positions are in world (RAS+) millimetres. Triangles are wound counter-clockwise seen from
/// outside, so the right-hand normal `(b - a) × (c - a)` points out of the enclosed region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions in world (RAS+) millimetres.
    pub positions_mm: Vec<[f32; 3]>,
    /// Three vertex indices per triangle, outward winding.
    pub triangles: Vec<[u32; 3]>,
}

impl TriMesh {
    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.positions_mm.len()
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.triangles.len()
    }

    /// Whether the mesh has no triangles.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// The three corner positions of triangle `t`, in world mm, as `f64`.
    #[inline]
    pub fn corners_mm(&self, t: usize) -> [[f64; 3]; 3] {
        self.triangles[t].map(|v| self.positions_mm[v as usize].map(f64::from))
    }

    /// Total triangle area in mm².
    pub fn surface_area_mm2(&self) -> f64 {
        (0..self.triangles.len())
            .into_par_iter()
            .map(|t| {
                let [a, b, c] = self.corners_mm(t);
                0.5 * norm(cross(sub(b, a), sub(c, a)))
            })
            .sum()
    }

    /// Signed volume enclosed by the mesh in mm³ (divergence theorem): positive when the mesh is
    /// closed and wound outward. Meaningful only for closed meshes.
    pub fn enclosed_volume_mm3(&self) -> f64 {
        // Measured from the first vertex rather than the world origin, so that a mesh far from the
        // origin does not lose precision to cancellation.
        let Some(first) = self.positions_mm.first() else {
            return 0.0;
        };
        let o = first.map(f64::from);
        (0..self.triangles.len())
            .into_par_iter()
            .map(|t| {
                let [a, b, c] = self.corners_mm(t).map(|p| sub(p, o));
                dot(a, cross(b, c)) / 6.0
            })
            .sum()
    }

    /// Axis-aligned bounds `(min, max)` of the vertices in world mm; `None` for an empty mesh.
    pub fn bounds_mm(&self) -> Option<([f32; 3], [f32; 3])> {
        let first = *self.positions_mm.first()?;
        Some(
            self.positions_mm
                .iter()
                .fold((first, first), |(lo, hi), p| {
                    (
                        [0, 1, 2].map(|a| lo[a].min(p[a])),
                        [0, 1, 2].map(|a| hi[a].max(p[a])),
                    )
                }),
        )
    }

    /// Reverses the winding of every triangle (turns normals inside out).
    pub fn flip_winding(&mut self) {
        for t in &mut self.triangles {
            t.swap(1, 2);
        }
    }
}

#[inline]
pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit cube from (0,0,0) to (1,1,1), outward winding.
    fn cube() -> TriMesh {
        let positions_mm = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 1.0],
            [1.0, 1.0, 1.0],
            [0.0, 1.0, 1.0],
        ];
        let triangles = vec![
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [2, 3, 7],
            [2, 7, 6],
            [1, 2, 6],
            [1, 6, 5],
            [0, 4, 7],
            [0, 7, 3],
        ];
        TriMesh {
            positions_mm,
            triangles,
        }
    }

    #[test]
    fn cube_area_volume_and_flip() {
        let mut m = cube();
        assert!((m.surface_area_mm2() - 6.0).abs() < 1e-9);
        assert!((m.enclosed_volume_mm3() - 1.0).abs() < 1e-9);
        m.flip_winding();
        assert!((m.enclosed_volume_mm3() + 1.0).abs() < 1e-9);
        assert_eq!(m.bounds_mm(), Some(([0.0; 3], [1.0; 3])));
    }
}
