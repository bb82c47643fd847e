//! Mesh files: binary STL, binary PLY with vertex colours and OBJ with vertex colours.
//!
//! Every file is in world RAS+ millimetres and says so (`SPACE=RAS` in the STL header, PLY and
//! OBJ comments: the marker 3D Slicer reads). Colours come from [`Structure::colour_rgb`]:
//! organ blue, lesions red.

mod obj;
mod ply;
mod stl;

use std::io::Write;
use std::path::Path;

pub use obj::write_obj;
pub use ply::write_ply;
pub use stl::write_stl;

use super::{MeshError, Structure, Surface};

/// A mesh file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Binary STL: triangles with face normals, colour only in the header (Materialise style).
    Stl,
    /// Binary little-endian PLY: shared vertices with normals and RGB colours.
    Ply,
    /// Wavefront OBJ: shared vertices with the `v x y z r g b` colour extension and normals.
    Obj,
}

impl ExportFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Stl => "stl",
            ExportFormat::Ply => "ply",
            ExportFormat::Obj => "obj",
        }
    }
}

/// Text that names the structure and the coordinate space, for file headers.
fn description(structure: Structure) -> String {
    format!(
        "Oncoscope {} surface, world RAS+ millimetres SPACE=RAS",
        structure.name()
    )
}

/// Writes `surface` to `path` in `format`, through a temporary file renamed into place: a
/// failed write (a full disk) leaves neither a truncated file under `path` nor the temporary
/// one.
pub fn write_surface(
    path: &Path,
    surface: &Surface,
    format: ExportFormat,
) -> Result<(), MeshError> {
    crate::atomic_file::write_atomically(path, |out| write_to(out, surface, format)).map_err(
        |error| MeshError::Io {
            path: path.to_path_buf(),
            error,
        },
    )
}

fn write_to(
    mut out: &mut dyn Write,
    surface: &Surface,
    format: ExportFormat,
) -> std::io::Result<()> {
    let colour = surface.structure.colour_rgb();
    let text = description(surface.structure);
    match format {
        ExportFormat::Stl => write_stl(&mut out, &surface.mesh, colour, &text),
        ExportFormat::Ply => write_ply(&mut out, &surface.mesh, &surface.normals, colour, &text),
        ExportFormat::Obj => write_obj(
            &mut out,
            &surface.mesh,
            &surface.normals,
            colour,
            &text,
            surface.structure.name(),
        ),
    }
}
