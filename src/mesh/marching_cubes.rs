//! Marching cubes over a [`PaddedField`], giving an indexed mesh in world millimetres.
//!
//! Why our own: the `marching-cubes` crate (0.1.2) named in the design panics on every surface
//! cell (an operator-precedence bug in its edge test and a triangle loop that reads past the `-1`
//! terminator) and has no grid driver, no indices and no vertex sharing
//! (`../shared/STACK-NOTES.md` §5). Only its standard Bourke tables are reused (`tables.rs`).
//!
//! How: every grid edge that the surface crosses gets exactly one vertex, numbered in a fixed
//! order (plane by plane; within a plane all x-edges, then y-edges, then the z-edges to the next
//! plane, each in x-fastest order). A first parallel pass counts the crossings per plane, so each
//! plane's first vertex number is known; the second pass runs z-slabs of cells in parallel, and
//! each slab numbers the edges of the planes it touches the same way its neighbours do. Slabs
//! therefore share the vertices of their common plane without a stitching step, and the output
//! is the same for any number of threads.
//!
//! The field is padded with zeros (see [`PaddedField`]), so every surface is closed. Ambiguous
//! faces are resolved by the table alone, the same way from the cells on both sides, so meshes
//! of any mask — random noise included (see `tests/mesh_surfaces.rs`) — are closed 2-manifolds.

use nalgebra::Matrix4;
use rayon::prelude::*;

use super::tables::TRI_TABLE;
use super::{MeshError, PaddedField, TriMesh};

/// The iso level that separates 0 (outside) from 1 (inside) in a binary field.
pub const BINARY_ISO_LEVEL: f32 = 0.5;

/// Extracts the surface `field == iso_level` as an indexed mesh.
///
/// Samples below `iso_level` are outside. Vertices lie on grid edges, linearly interpolated
/// between the two samples, and are mapped through `world_from_voxel` (voxel indices of the
/// field's source grid → world mm). Triangles are wound outward; when `world_from_voxel` mirrors
/// space (negative determinant) the winding is reversed so that it stays outward in world space.
///
/// `iso_level` must lie in `(0, 255]`, so that the zero padding is outside.
pub fn marching_cubes(
    field: &PaddedField,
    iso_level: f32,
    world_from_voxel: &Matrix4<f64>,
) -> Result<TriMesh, MeshError> {
    if !(iso_level > 0.0 && iso_level <= 255.0) {
        return Err(MeshError::InvalidArgument(format!(
            "iso level {iso_level} is outside (0, 255]"
        )));
    }
    if field.dims.iter().any(|&n| n < 2) {
        return Ok(TriMesh::default());
    }
    let mc = Extractor::new(field, iso_level, world_from_voxel);
    let [_, _, nz] = field.dims;
    // Below about a million samples, splitting the work costs more than a second core gains.
    let parallel = field.samples.len() >= PARALLEL_MIN_SAMPLES;

    // Pass 1: crossed edges per plane → first vertex number of each plane.
    let counts: Vec<[usize; 3]> = (0..nz)
        .into_par_iter()
        .with_min_len(if parallel { 1 } else { nz })
        .map_init(
            || {
                (
                    vec![0u8; field.dims[0] * field.dims[1]],
                    vec![0u8; field.dims[0] * field.dims[1]],
                )
            },
            |(lo, hi), p| mc.count(p, lo, hi),
        )
        .collect();
    let mut plane_start = Vec::with_capacity(nz + 1);
    let mut total = 0usize;
    for c in &counts {
        plane_start.push(total);
        total += c[0] + c[1] + c[2];
    }
    plane_start.push(total);
    if u32::try_from(total).is_err() {
        return Err(MeshError::TooLarge(total));
    }

    // Pass 2: slabs of cell layers. Slab `s` owns (writes the positions of) the vertices of planes
    // `z0 .. z1`; the last slab also owns the last plane.
    let layers = nz - 1;
    let threads = rayon::current_num_threads().max(1);
    let slab_layers = if parallel {
        layers.div_ceil(4 * threads).max(4)
    } else {
        layers
    };
    let slabs: Vec<(usize, usize)> = (0..layers)
        .step_by(slab_layers)
        .map(|z0| (z0, (z0 + slab_layers).min(layers)))
        .collect();
    let mut positions_mm = vec![[0.0f32; 3]; total];
    let mut owned: Vec<&mut [[f32; 3]]> = Vec::with_capacity(slabs.len());
    let mut rest: &mut [[f32; 3]] = &mut positions_mm;
    for (s, &(z0, z1)) in slabs.iter().enumerate() {
        let end = if s + 1 == slabs.len() {
            plane_start[nz]
        } else {
            plane_start[z1]
        };
        let (mine, tail) = rest.split_at_mut(end - plane_start[z0]);
        owned.push(mine);
        rest = tail;
    }
    let slab_triangles: Vec<Vec<[u32; 3]>> = slabs
        .par_iter()
        .zip(owned.into_par_iter())
        .map(|(&(z0, z1), positions)| {
            let owns_last_plane = z1 == layers;
            mc.slab(z0, z1, owns_last_plane, &plane_start, &counts, positions)
        })
        .collect();
    let triangle_count: usize = slab_triangles.iter().map(Vec::len).sum();
    if u32::try_from(triangle_count).is_err() {
        return Err(MeshError::TooLarge(triangle_count));
    }
    let mut triangles = Vec::with_capacity(triangle_count);
    for t in slab_triangles {
        triangles.extend_from_slice(&t);
    }
    Ok(TriMesh {
        positions_mm,
        triangles,
    })
}

/// Fields with fewer samples than this are processed on the calling thread only.
const PARALLEL_MIN_SAMPLES: usize = 1 << 20;

/// Shared read-only state of one extraction.
struct Extractor<'a> {
    field: &'a PaddedField,
    iso_level: f32,
    /// A sample is inside when `value >= inside_from` (the integer form of `value >= iso_level`).
    inside_from: u8,
    /// World mm of sample `(0, 0, 0)` and the world step of one sample along x, y, z.
    origin_mm: [f64; 3],
    step_mm: [[f64; 3]; 3],
    /// Emit `[a, c, b]` instead of `[a, b, c]`, for mirroring affines.
    flip: bool,
}

/// Which edge array and which offset (from the cell's x + nx·y) each of the 12 cell edges uses:
/// 0/1 = x/y-edges of the lower plane, 2/3 = of the upper plane, 4 = z-edges.
const EDGE_SOURCE: [(usize, usize, usize); 12] = [
    // (array, dx, dy)
    (0, 0, 0),
    (1, 1, 0),
    (0, 0, 1),
    (1, 0, 0),
    (2, 0, 0),
    (3, 1, 0),
    (2, 0, 1),
    (3, 0, 0),
    (4, 0, 0),
    (4, 1, 0),
    (4, 1, 1),
    (4, 0, 1),
];

/// Row state: every sample of the row inside, every sample outside, or both kinds.
const ALL_INSIDE: u8 = 0;
const ALL_OUTSIDE: u8 = 1;
const MIXED: u8 = 2;

/// One plane of samples, classified, with the vertex numbers of its crossed edges.
///
/// Entries of `x` and `y` are only meaningful where the edge is crossed: marching cubes reads
/// exactly those, so the others are never cleared.
struct PlaneEdges {
    /// 1 where the sample is outside, x-fastest.
    outside: Vec<u8>,
    /// Per row y: [`ALL_INSIDE`], [`ALL_OUTSIDE`] or [`MIXED`]; lets uniform rows be skipped.
    row_state: Vec<u8>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// Per cell face `(x, y)`: bit 0..3 set when corner (x,y), (x+1,y), (x+1,y+1), (x,y+1) is
    /// outside — the lower nibble of Bourke's cube index.
    codes: Vec<u8>,
}

impl PlaneEdges {
    fn new(nx: usize, ny: usize) -> Self {
        Self {
            outside: vec![0; nx * ny],
            row_state: vec![MIXED; ny],
            x: vec![u32::MAX; nx * ny],
            y: vec![u32::MAX; nx * ny],
            codes: vec![0; (nx - 1) * (ny - 1)],
        }
    }

    /// Whether rows `a` and `b` are both uniform with the same class.
    #[inline]
    fn rows_uniform_alike(&self, a: usize, b: usize) -> bool {
        self.row_state[a] != MIXED && self.row_state[a] == self.row_state[b]
    }
}

/// Number of neighbouring pairs that differ: `Σ a[i] xor b[i]` over 0/1 bytes, vectorisable.
#[inline]
fn differing(a: &[u8], b: &[u8]) -> usize {
    a.chunks(255)
        .zip(b.chunks(255))
        .map(|(a, b)| usize::from(a.iter().zip(b).fold(0u8, |n, (p, q)| n + (p ^ q))))
        .sum()
}

impl<'a> Extractor<'a> {
    fn new(field: &'a PaddedField, iso_level: f32, world_from_voxel: &Matrix4<f64>) -> Self {
        let linear = world_from_voxel.fixed_view::<3, 3>(0, 0);
        let step_mm = [0, 1, 2].map(|a| [0, 1, 2].map(|w| linear[(w, a)]));
        let o = field.origin_voxel.map(|v| v as f64);
        let origin_mm = [0, 1, 2]
            .map(|w| world_from_voxel[(w, 3)] + (0..3).map(|a| linear[(w, a)] * o[a]).sum::<f64>());
        Self {
            field,
            iso_level,
            // iso_level is in (0, 255], so its ceiling fits a u8.
            inside_from: iso_level.ceil() as u8,
            origin_mm,
            step_mm,
            flip: linear.determinant() < 0.0,
        }
    }

    fn plane(&self, p: usize) -> &[u8] {
        let n = self.field.dims[0] * self.field.dims[1];
        &self.field.samples[p * n..(p + 1) * n]
    }

    /// Writes 1 for outside samples of plane `p` into `outside`.
    fn classify(&self, p: usize, outside: &mut [u8]) {
        let t = self.inside_from;
        for (o, &v) in outside.iter_mut().zip(self.plane(p)) {
            *o = u8::from(v < t);
        }
    }

    /// Crossed x-edges, y-edges and z-edges (to plane `p + 1`) of plane `p`; `lo` and `hi` are
    /// scratch planes.
    fn count(&self, p: usize, lo: &mut [u8], hi: &mut [u8]) -> [usize; 3] {
        let [nx, _, nz] = self.field.dims;
        self.classify(p, lo);
        let mut c = [0usize; 3];
        for row in lo.chunks_exact(nx) {
            c[0] += differing(&row[..nx - 1], &row[1..]);
        }
        c[1] = differing(&lo[..lo.len() - nx], &lo[nx..]);
        if p + 1 < nz {
            self.classify(p + 1, hi);
            c[2] = differing(lo, hi);
        }
        c
    }

    /// The world position of the crossing on the edge from sample `at` to its neighbour along
    /// `axis`.
    #[inline]
    fn vertex_mm(&self, at: [usize; 3], axis: usize) -> [f32; 3] {
        let i = self.field.index(at[0], at[1], at[2]);
        let stride = [
            1,
            self.field.dims[0],
            self.field.dims[0] * self.field.dims[1],
        ][axis];
        let (a, b) = (self.field.samples[i], self.field.samples[i + stride]);
        let t = f64::from((self.iso_level - f32::from(a)) / (f32::from(b) - f32::from(a)));
        let mut v = at.map(|c| c as f64);
        v[axis] += t;
        [0, 1, 2].map(|w| {
            (self.origin_mm[w]
                + v[0] * self.step_mm[0][w]
                + v[1] * self.step_mm[1][w]
                + v[2] * self.step_mm[2][w]) as f32
        })
    }

    /// Classifies plane `p`, numbers its crossed x- and y-edges (first number `start`), writes
    /// their positions when `positions` is given (indexed from `owned_start`), and fills the face
    /// codes.
    fn fill_plane(
        &self,
        p: usize,
        start: usize,
        plane: &mut PlaneEdges,
        mut positions: Option<(&mut [[f32; 3]], usize)>,
    ) {
        let [nx, ny, _] = self.field.dims;
        self.classify(p, &mut plane.outside);
        for (state, row) in plane
            .row_state
            .iter_mut()
            .zip(plane.outside.chunks_exact(nx))
        {
            let (any, all) = row
                .iter()
                .fold((0u8, 1u8), |(any, all), &o| (any | o, all & o));
            *state = if any == 0 {
                ALL_INSIDE
            } else if all == 1 {
                ALL_OUTSIDE
            } else {
                MIXED
            };
        }
        let mut next = start;
        let mut number = |at: [usize; 3], axis: usize| -> u32 {
            if let Some((pos, owned_start)) = positions.as_mut() {
                pos[next - *owned_start] = self.vertex_mm(at, axis);
            }
            next += 1;
            (next - 1) as u32
        };
        let o = &plane.outside;
        for y in 0..ny {
            if plane.row_state[y] != MIXED {
                continue;
            }
            let row = &o[nx * y..nx * (y + 1)];
            for_each_difference(&row[..nx - 1], &row[1..], |x| {
                plane.x[x + nx * y] = number([x, y, p], 0);
            });
        }
        for y in 0..ny - 1 {
            if plane.rows_uniform_alike(y, y + 1) {
                continue;
            }
            let (r0, r1) = (&o[nx * y..nx * (y + 1)], &o[nx * (y + 1)..nx * (y + 2)]);
            for_each_difference(r0, r1, |x| {
                plane.y[x + nx * y] = number([x, y, p], 1);
            });
        }
        for y in 0..ny - 1 {
            let uniform = plane.rows_uniform_alike(y, y + 1);
            let codes = &mut plane.codes[(nx - 1) * y..(nx - 1) * (y + 1)];
            if uniform {
                codes.fill(if plane.row_state[y] == ALL_OUTSIDE {
                    15
                } else {
                    0
                });
                continue;
            }
            let (r0, r1) = (&o[nx * y..nx * (y + 1)], &o[nx * (y + 1)..nx * (y + 2)]);
            for (x, c) in codes.iter_mut().enumerate() {
                *c = r0[x] | r0[x + 1] << 1 | r1[x + 1] << 2 | r1[x] << 3;
            }
        }
    }

    /// Numbers the crossed z-edges between planes `p` (`lo`) and `p + 1` (`hi`) and writes their
    /// positions.
    fn fill_z(
        &self,
        p: usize,
        start: usize,
        (lo, hi): (&PlaneEdges, &PlaneEdges),
        ids: &mut [u32],
        (positions, owned_start): (&mut [[f32; 3]], usize),
    ) {
        let [nx, ny, _] = self.field.dims;
        let mut next = start;
        for y in 0..ny {
            if lo.row_state[y] != MIXED && lo.row_state[y] == hi.row_state[y] {
                continue;
            }
            let row = nx * y..nx * (y + 1);
            for_each_difference(&lo.outside[row.clone()], &hi.outside[row], |x| {
                positions[next - owned_start] = self.vertex_mm([x, y, p], 2);
                ids[x + nx * y] = next as u32;
                next += 1;
            });
        }
    }

    /// Triangulates cell layers `z0 .. z1`, writing the positions of the vertices this slab owns
    /// into `positions` (which starts at vertex `plane_start[z0]`).
    fn slab(
        &self,
        z0: usize,
        z1: usize,
        owns_last_plane: bool,
        plane_start: &[usize],
        counts: &[[usize; 3]],
        positions: &mut [[f32; 3]],
    ) -> Vec<[u32; 3]> {
        let [nx, ny, _] = self.field.dims;
        let owned_start = plane_start[z0];
        let mut lo = PlaneEdges::new(nx, ny);
        let mut hi = PlaneEdges::new(nx, ny);
        let mut z_ids = vec![u32::MAX; nx * ny];
        let mut triangles = Vec::new();
        self.fill_plane(
            z0,
            plane_start[z0],
            &mut lo,
            Some((&mut *positions, owned_start)),
        );
        for z in z0..z1 {
            let owned = z + 1 < z1 || owns_last_plane;
            let write = owned.then_some((&mut *positions, owned_start));
            self.fill_plane(z + 1, plane_start[z + 1], &mut hi, write);
            let z_start = plane_start[z] + counts[z][0] + counts[z][1];
            self.fill_z(
                z,
                z_start,
                (&lo, &hi),
                &mut z_ids,
                (&mut *positions, owned_start),
            );
            self.triangulate_layer(&lo, &hi, &z_ids, &mut triangles);
            std::mem::swap(&mut lo, &mut hi);
        }
        triangles
    }

    /// Appends the triangles of one layer of cells between planes `lo` and `hi`.
    fn triangulate_layer(
        &self,
        lo: &PlaneEdges,
        hi: &PlaneEdges,
        z_ids: &[u32],
        triangles: &mut Vec<[u32; 3]>,
    ) {
        let [nx, ny, _] = self.field.dims;
        let arrays: [&[u32]; 5] = [&lo.x, &lo.y, &hi.x, &hi.y, z_ids];
        for y in 0..ny - 1 {
            if lo.rows_uniform_alike(y, y + 1)
                && hi.rows_uniform_alike(y, y + 1)
                && lo.row_state[y] == hi.row_state[y]
            {
                continue;
            }
            let codes_lo = &lo.codes[(nx - 1) * y..(nx - 1) * (y + 1)];
            let codes_hi = &hi.codes[(nx - 1) * y..(nx - 1) * (y + 1)];
            for_each_surface_cell(codes_lo, codes_hi, |x, cube| {
                let cell = x + nx * y;
                let vertex = |e: i8| -> u32 {
                    let (array, dx, dy) = EDGE_SOURCE[e as usize];
                    arrays[array][cell + dx + nx * dy]
                };
                for tri in TRI_TABLE[cube].chunks_exact(3) {
                    if tri[0] < 0 {
                        break;
                    }
                    let (a, b, c) = (vertex(tri[0]), vertex(tri[1]), vertex(tri[2]));
                    // With outside corners as set bits, Bourke's triangles are wound
                    // counter-clockwise seen from outside (checked by the octahedron test).
                    triangles.push(if self.flip { [a, c, b] } else { [a, b, c] });
                }
            });
        }
    }
}

/// Reads 8 bytes at `at` as a little-endian word (byte `k` of the slice in bits `8k..8k+8`).
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Calls `f(i)` for every `i` where `a[i] != b[i]`, in ascending order. Compares 8 bytes at a
/// time, because almost all neighbouring samples agree.
#[inline]
fn for_each_difference(a: &[u8], b: &[u8], mut f: impl FnMut(usize)) {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let mut diff = word(a, i) ^ word(b, i);
        while diff != 0 {
            let k = diff.trailing_zeros() as usize / 8;
            f(i + k);
            diff &= !(0xff << (8 * k));
        }
        i += 8;
    }
    for j in i..n {
        if a[j] != b[j] {
            f(j);
        }
    }
}

/// Calls `f(x, cube)`, in ascending order, for every cell `x` of a row whose Bourke cube index
/// `lo[x] | hi[x] << 4` is neither 0 (all corners inside) nor 255 (all outside).
#[inline]
fn for_each_surface_cell(lo: &[u8], hi: &[u8], mut f: impl FnMut(usize, usize)) {
    let n = lo.len().min(hi.len());
    let mut i = 0;
    while i + 8 <= n {
        // Codes are 4-bit, so the shift never carries into the next byte.
        let cubes = word(lo, i) | word(hi, i) << 4;
        if cubes != 0 && cubes != u64::MAX {
            for (k, cube) in cubes.to_le_bytes().into_iter().enumerate() {
                if cube != 0 && cube != 255 {
                    f(i + k, usize::from(cube));
                }
            }
        }
        i += 8;
    }
    for j in i..n {
        let cube = lo[j] | hi[j] << 4;
        if cube != 0 && cube != 255 {
            f(j, usize::from(cube));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::tables::{CORNER_OFFSETS, EDGE_CORNERS};

    #[test]
    fn edge_sources_match_bourke_edges() {
        for (e, &(array, dx, dy)) in EDGE_SOURCE.iter().enumerate() {
            let [a, b] = EDGE_CORNERS[e].map(|c| CORNER_OFFSETS[c]);
            let lower = [0, 1, 2].map(|k| a[k].min(b[k]));
            let axis = (0..3).find(|&k| a[k] != b[k]).unwrap();
            let expected = match (axis, lower[2]) {
                (2, _) => 4,
                (k, z) => 2 * z + k,
            };
            assert_eq!((array, dx, dy), (expected, lower[0], lower[1]), "edge {e}");
        }
    }

    #[test]
    fn single_voxel_is_a_closed_octahedron() {
        let field = PaddedField {
            dims: [3, 3, 3],
            origin_voxel: [-1, -1, -1],
            samples: (0..27).map(|i| u8::from(i == 13)).collect(),
        };
        let m = marching_cubes(&field, 0.5, &Matrix4::identity()).unwrap();
        assert_eq!((m.vertex_count(), m.triangle_count()), (6, 8));
        // Octahedron with vertices 0.5 from the voxel centre at (0, 0, 0).
        let v = m.enclosed_volume_mm3();
        assert!((v - 4.0 / 3.0 * 0.125).abs() < 1e-6, "{v}");
        for p in &m.positions_mm {
            assert!((p.iter().map(|c| c.abs()).sum::<f32>() - 0.5).abs() < 1e-6);
        }
        assert!(marching_cubes(&field, 0.0, &Matrix4::identity()).is_err());
    }
}
