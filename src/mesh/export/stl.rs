//! Binary STL writer.

use std::io::{self, Write};

use crate::mesh::{TriMesh, face_normal};

/// Writes `mesh` as binary STL: an 80-byte header holding `text` and the Materialise colour
/// marker `COLOR=` + RGBA, the triangle count, then per triangle its unit normal and corners
/// (world mm, little-endian f32).
pub fn write_stl<W: Write>(
    out: &mut W,
    mesh: &TriMesh,
    colour_rgb: [u8; 3],
    text: &str,
) -> io::Result<()> {
    let mut header = [0u8; 80];
    let colour = [colour_rgb[0], colour_rgb[1], colour_rgb[2], 255];
    let mut marker = b"COLOR=".to_vec();
    marker.extend_from_slice(&colour);
    // Readers treat a header that starts with "solid" as ASCII STL; ours starts otherwise.
    let room = header.len() - marker.len() - 1;
    let text = &text.as_bytes()[..text.len().min(room)];
    header[..text.len()].copy_from_slice(text);
    header[text.len() + 1..text.len() + 1 + marker.len()].copy_from_slice(&marker);
    out.write_all(&header)?;
    let count = u32::try_from(mesh.triangles.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many triangles for STL"))?;
    out.write_all(&count.to_le_bytes())?;
    let mut record = [0u8; 50];
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let n = face_normal(mesh, t);
        let corners = tri.map(|v| mesh.positions_mm[v as usize]);
        for (k, value) in n.iter().chain(corners.iter().flatten()).enumerate() {
            record[4 * k..4 * k + 4].copy_from_slice(&value.to_le_bytes());
        }
        out.write_all(&record)?;
    }
    Ok(())
}
