//! Wavefront OBJ writer with the vertex-colour extension (`v x y z r g b`, colours in 0..1),
//! which MeshLab, Blender and trimesh read.

use std::io::{self, Write};

use crate::mesh::TriMesh;

/// Writes `mesh` as OBJ: object `name`, vertices (world mm) with colour, vertex normals, and
/// 1-based faces `f a//a b//b c//c`.
pub fn write_obj<W: Write>(
    out: &mut W,
    mesh: &TriMesh,
    normals: &[[f32; 3]],
    colour_rgb: [u8; 3],
    text: &str,
    name: &str,
) -> io::Result<()> {
    if normals.len() != mesh.positions_mm.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "one normal per vertex needed",
        ));
    }
    let [r, g, b] = colour_rgb.map(|c| f32::from(c) / 255.0);
    writeln!(out, "# {text}\no {name}")?;
    for p in &mesh.positions_mm {
        writeln!(out, "v {} {} {} {r:.4} {g:.4} {b:.4}", p[0], p[1], p[2])?;
    }
    for n in normals {
        writeln!(out, "vn {} {} {}", n[0], n[1], n[2])?;
    }
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|v| u64::from(v) + 1);
        writeln!(out, "f {a}//{a} {b}//{b} {c}//{c}")?;
    }
    Ok(())
}
