//! Taubin λ/μ smoothing of mesh vertices: alternating shrink and inflate steps of the uniform
//! Laplacian, which removes the voxel staircase without the shrinkage of plain Laplacian
//! smoothing. It moves vertices only; connectivity and all voxel-based measures stay unchanged.

use rayon::prelude::*;

use super::{MeshError, TriMesh};

/// Parameters of Taubin smoothing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TaubinParams {
    /// Number of λ/μ step pairs: the user's smoothing strength; 0 leaves the mesh as it is.
    pub iterations: usize,
    /// Shrinking step, in (0, 1).
    pub lambda: f32,
    /// Inflating step, negative with |μ| slightly above λ.
    pub mu: f32,
}

impl TaubinParams {
    /// Taubin's classic pass band (λ = 0.5, μ = −0.53) with `iterations` step pairs.
    pub fn with_iterations(iterations: usize) -> Self {
        Self {
            iterations,
            lambda: 0.5,
            mu: -0.53,
        }
    }

    fn check(&self) -> Result<(), MeshError> {
        let ok = self.lambda > 0.0 && self.lambda < 1.0 && self.mu < -self.lambda && self.mu > -1.0;
        if ok {
            Ok(())
        } else {
            Err(MeshError::InvalidArgument(format!(
                "Taubin smoothing needs 0 < λ < 1 and −1 < μ < −λ, got λ = {}, μ = {}",
                self.lambda, self.mu
            )))
        }
    }
}

impl Default for TaubinParams {
    fn default() -> Self {
        Self::with_iterations(0)
    }
}

/// Smooths `mesh` in place (world mm), `params.iterations` λ/μ step pairs.
pub fn taubin_smooth(mesh: &mut TriMesh, params: &TaubinParams) -> Result<(), MeshError> {
    params.check()?;
    if params.iterations == 0 || mesh.is_empty() {
        return Ok(());
    }
    let neighbours = Neighbours::of(mesh);
    let mut scratch = mesh.positions_mm.clone();
    for _ in 0..params.iterations {
        for factor in [params.lambda, params.mu] {
            laplacian_step(&mesh.positions_mm, &mut scratch, &neighbours, factor);
            std::mem::swap(&mut mesh.positions_mm, &mut scratch);
        }
    }
    Ok(())
}

/// `to[i] = from[i] + factor · (mean of neighbours − from[i])`.
fn laplacian_step(from: &[[f32; 3]], to: &mut [[f32; 3]], neighbours: &Neighbours, factor: f32) {
    to.par_iter_mut().enumerate().for_each(|(i, out)| {
        let p = from[i];
        let ring = neighbours.of_vertex(i);
        if ring.is_empty() {
            *out = p;
            return;
        }
        let mut sum = [0.0f32; 3];
        for &n in ring {
            let q = from[n as usize];
            for a in 0..3 {
                sum[a] += q[a];
            }
        }
        let inv = 1.0 / ring.len() as f32;
        *out = [0, 1, 2].map(|a| p[a] + factor * (sum[a] * inv - p[a]));
    });
}

/// Vertex adjacency in compressed rows: the neighbours of `i` are `list[start[i] .. start[i + 1]]`.
struct Neighbours {
    start: Vec<usize>,
    list: Vec<u32>,
}

impl Neighbours {
    fn of(mesh: &TriMesh) -> Self {
        let mut pairs: Vec<(u32, u32)> = mesh
            .triangles
            .par_iter()
            .flat_map_iter(|t| {
                [
                    (t[0], t[1]),
                    (t[1], t[0]),
                    (t[1], t[2]),
                    (t[2], t[1]),
                    (t[2], t[0]),
                    (t[0], t[2]),
                ]
            })
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        let mut start = vec![0usize; mesh.positions_mm.len() + 1];
        for &(a, _) in &pairs {
            start[a as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        Self {
            start,
            list: pairs.into_iter().map(|(_, b)| b).collect(),
        }
    }

    fn of_vertex(&self, i: usize) -> &[u32] {
        &self.list[self.start[i]..self.start[i + 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_iterations_change_nothing_and_bad_params_are_refused() {
        let mut m = TriMesh {
            positions_mm: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            triangles: vec![[0, 1, 2]],
        };
        let before = m.clone();
        taubin_smooth(&mut m, &TaubinParams::with_iterations(0)).unwrap();
        assert_eq!(m, before);
        let bad = TaubinParams {
            iterations: 1,
            lambda: 0.5,
            mu: -0.4,
        };
        assert!(taubin_smooth(&mut m, &bad).is_err());
    }

    #[test]
    fn a_spike_is_pulled_back() {
        // A flat fan around vertex 0, which sticks out by 1 mm.
        let ring = 8;
        let mut positions_mm = vec![[0.0, 0.0, 1.0]];
        for k in 0..ring {
            let a = k as f32 / ring as f32 * std::f32::consts::TAU;
            positions_mm.push([a.cos(), a.sin(), 0.0]);
        }
        let triangles = (0..ring)
            .map(|k| [0, 1 + k as u32, 1 + ((k + 1) % ring) as u32])
            .collect();
        let mut m = TriMesh {
            positions_mm,
            triangles,
        };
        taubin_smooth(&mut m, &TaubinParams::with_iterations(3)).unwrap();
        assert!(m.positions_mm[0][2] < 0.5, "{:?}", m.positions_mm[0]);
    }
}
