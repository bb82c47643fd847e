//! Binary little-endian PLY writer with per-vertex normals and colours.

use std::io::{self, Write};

use crate::mesh::TriMesh;

/// Writes `mesh` as binary PLY: vertices (world mm) with `normals` and the RGB colour, and faces
/// as `uchar`-counted `int` index lists.
pub fn write_ply<W: Write>(
    out: &mut W,
    mesh: &TriMesh,
    normals: &[[f32; 3]],
    colour_rgb: [u8; 3],
    text: &str,
) -> io::Result<()> {
    if normals.len() != mesh.positions_mm.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "one normal per vertex needed",
        ));
    }
    if i32::try_from(mesh.positions_mm.len()).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many vertices for int indices",
        ));
    }
    write!(
        out,
        "ply\nformat binary_little_endian 1.0\ncomment {text}\nelement vertex {}\n\
         property float x\nproperty float y\nproperty float z\n\
         property float nx\nproperty float ny\nproperty float nz\n\
         property uchar red\nproperty uchar green\nproperty uchar blue\n\
         element face {}\nproperty list uchar int vertex_indices\nend_header\n",
        mesh.positions_mm.len(),
        mesh.triangles.len()
    )?;
    let mut vertex = [0u8; 27];
    vertex[24..].copy_from_slice(&colour_rgb);
    for (p, n) in mesh.positions_mm.iter().zip(normals) {
        for (k, value) in p.iter().chain(n).enumerate() {
            vertex[4 * k..4 * k + 4].copy_from_slice(&value.to_le_bytes());
        }
        out.write_all(&vertex)?;
    }
    let mut face = [3u8; 13];
    for t in &mesh.triangles {
        for (k, &v) in t.iter().enumerate() {
            face[1 + 4 * k..5 + 4 * k].copy_from_slice(&v.to_le_bytes());
        }
        out.write_all(&face)?;
    }
    Ok(())
}
