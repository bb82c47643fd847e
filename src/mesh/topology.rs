//! Edge checks of a [`TriMesh`]: closed, 2-manifold, consistently wound, Euler characteristic.

use rayon::prelude::*;

use super::TriMesh;

/// How the triangles of a mesh meet along their edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct EdgeReport {
    /// Distinct undirected edges.
    pub edges: usize,
    /// Edges used by one triangle only (holes).
    pub boundary_edges: usize,
    /// Edges used by more than two triangles.
    pub non_manifold_edges: usize,
    /// Edges shared by two triangles that traverse it in the same direction (inconsistent winding).
    pub misoriented_edges: usize,
    /// Vertices referenced by at least one triangle.
    pub used_vertices: usize,
    /// V − E + F: 2 per closed sphere-like component, 0 per torus.
    pub euler_characteristic: i64,
}

impl EdgeReport {
    /// Every edge in exactly two triangles, traversed once in each direction.
    pub fn is_closed_manifold(&self) -> bool {
        self.boundary_edges == 0 && self.non_manifold_edges == 0 && self.misoriented_edges == 0
    }
}

/// Counts the edges of `mesh` by how many triangles use them and in which direction.
pub fn edge_report(mesh: &TriMesh) -> EdgeReport {
    // Each directed edge (a → b) as (min·2³² + max, forward flag).
    let mut edges: Vec<(u64, bool)> = mesh
        .triangles
        .par_iter()
        .flat_map_iter(|t| {
            [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])]
                .into_iter()
                .map(|(a, b)| ((u64::from(a.min(b)) << 32) | u64::from(a.max(b)), a < b))
        })
        .collect();
    edges.par_sort_unstable();
    let mut report = EdgeReport::default();
    for group in edges.chunk_by(|a, b| a.0 == b.0) {
        report.edges += 1;
        match group.len() {
            1 => report.boundary_edges += 1,
            2 if group[0].1 == group[1].1 => report.misoriented_edges += 1,
            2 => {}
            _ => report.non_manifold_edges += 1,
        }
    }
    let mut used = vec![false; mesh.positions_mm.len()];
    for t in &mesh.triangles {
        for &v in t {
            used[v as usize] = true;
        }
    }
    report.used_vertices = used.iter().filter(|&&u| u).count();
    report.euler_characteristic =
        report.used_vertices as i64 - report.edges as i64 + mesh.triangles.len() as i64;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tetrahedron() -> TriMesh {
        TriMesh {
            positions_mm: vec![
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]],
        }
    }

    #[test]
    fn tetrahedron_is_closed_sphere() {
        let r = edge_report(&tetrahedron());
        assert!(r.is_closed_manifold(), "{r:?}");
        assert_eq!((r.edges, r.euler_characteristic), (6, 2));
    }

    #[test]
    fn detects_holes_and_flipped_triangles() {
        let mut m = tetrahedron();
        m.triangles.pop();
        let r = edge_report(&m);
        assert_eq!(r.boundary_edges, 3);
        let mut m = tetrahedron();
        m.triangles[0].swap(1, 2);
        let r = edge_report(&m);
        assert_eq!(r.misoriented_edges, 3);
        assert!(!r.is_closed_manifold());
    }
}
