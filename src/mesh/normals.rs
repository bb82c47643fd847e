//! Area-weighted vertex normals and unit face normals, in world space, never NaN.

use rayon::prelude::*;

use super::TriMesh;
use super::tri_mesh::{cross, norm, sub};

/// Unit normal of triangle `t` (right-hand rule, outward for outward winding); `[0, 0, 0]` for a
/// degenerate triangle.
pub fn face_normal(mesh: &TriMesh, t: usize) -> [f32; 3] {
    let [a, b, c] = mesh.corners_mm(t);
    let n = cross(sub(b, a), sub(c, a));
    let len = norm(n);
    if len > 0.0 && len.is_finite() {
        n.map(|v| (v / len) as f32)
    } else {
        [0.0; 3]
    }
}

/// Unit vertex normals: the sum of the adjacent triangles' normals weighted by their areas.
///
/// A vertex whose weighted sum vanishes (only degenerate or cancelling triangles around it) falls
/// back to the plain sum of its unit face normals, then to `+z`, so no normal is NaN or zero.
pub fn vertex_normals(mesh: &TriMesh) -> Vec<[f32; 3]> {
    // |(b − a) × (c − a)| is twice the area, so the raw cross product carries the area weight.
    let weighted: Vec<[f64; 3]> = (0..mesh.triangles.len())
        .into_par_iter()
        .map(|t| {
            let [a, b, c] = mesh.corners_mm(t);
            cross(sub(b, a), sub(c, a))
        })
        .collect();
    let mut sums = vec![[0.0f64; 3]; mesh.positions_mm.len()];
    for (t, n) in mesh.triangles.iter().zip(&weighted) {
        for &v in t {
            let s = &mut sums[v as usize];
            for a in 0..3 {
                s[a] += n[a];
            }
        }
    }
    let mut normals: Vec<Option<[f32; 3]>> = sums.par_iter().map(|&s| unit(s)).collect();
    if normals.iter().any(Option::is_none) {
        let mut fallback = vec![[0.0f64; 3]; mesh.positions_mm.len()];
        for (t, n) in mesh.triangles.iter().zip(&weighted) {
            let len = norm(*n);
            if len > 0.0 {
                for &v in t {
                    for a in 0..3 {
                        fallback[v as usize][a] += n[a] / len;
                    }
                }
            }
        }
        for (n, f) in normals.iter_mut().zip(fallback) {
            if n.is_none() {
                *n = unit(f);
            }
        }
    }
    normals
        .into_iter()
        .map(|n| n.unwrap_or([0.0, 0.0, 1.0]))
        .collect()
}

fn unit(v: [f64; 3]) -> Option<[f32; 3]> {
    let len = norm(v);
    (len > 1e-300 && len.is_finite()).then(|| v.map(|c| (c / len) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_triangle_dominates_and_degenerate_is_safe() {
        // Vertex 0 is shared by a large triangle facing +z and a small one facing +x.
        let m = TriMesh {
            positions_mm: vec![
                [0.0, 0.0, 0.0],
                [10.0, 0.0, 0.0],
                [0.0, 10.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
                [5.0, 5.0, 5.0],
            ],
            triangles: vec![[0, 1, 2], [0, 3, 4], [5, 5, 5]],
        };
        let n = vertex_normals(&m);
        assert!(n[0][2] > 0.98 && n[0][0] > 0.0, "{:?}", n[0]);
        assert_eq!(n[5], [0.0, 0.0, 1.0]);
        assert!(n.iter().flatten().all(|v| v.is_finite()));
        assert_eq!(face_normal(&m, 2), [0.0; 3]);
        assert_eq!(face_normal(&m, 0), [0.0, 0.0, 1.0]);
    }
}
