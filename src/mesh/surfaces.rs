//! The surfaces of a label map: one mesh per [`Structure`], smoothed if asked, with normals.

use super::marching_cubes::BINARY_ISO_LEVEL;
use super::{
    MeshError, PaddedField, Structure, TaubinParams, TriMesh, marching_cubes, taubin_smooth,
    vertex_normals,
};
use crate::volume::{Grid, LabelVolume};

/// One structure's surface in world (RAS+) mm.
#[derive(Debug, Clone)]
pub struct Surface {
    pub structure: Structure,
    pub mesh: TriMesh,
    /// Unit area-weighted vertex normals, one per vertex, world space.
    pub normals: Vec<[f32; 3]>,
}

/// The surface of `structure` in `labels`: marching cubes at 0.5 over its binary mask inside its
/// bounding box, then Taubin smoothing and normals. `None` when the structure has no voxels.
pub fn structure_surface(
    labels: &LabelVolume,
    structure: Structure,
    smoothing: &TaubinParams,
) -> Result<Option<Surface>, MeshError> {
    let Some(field) = PaddedField::from_labels(labels, &structure.mask_lut()) else {
        return Ok(None);
    };
    surface_of_field(field, &labels.grid, structure, smoothing).map(Some)
}

/// Marching cubes at 0.5 over a binary `field` cropped from a volume on `grid`, then Taubin
/// smoothing and normals; the surface is labelled as `structure`.
pub(super) fn surface_of_field(
    field: PaddedField,
    grid: &Grid,
    structure: Structure,
    smoothing: &TaubinParams,
) -> Result<Surface, MeshError> {
    let mut mesh = marching_cubes(&field, BINARY_ISO_LEVEL, &grid.world_from_voxel)?;
    drop(field);
    taubin_smooth(&mut mesh, smoothing)?;
    let normals = vertex_normals(&mesh);
    Ok(Surface {
        structure,
        mesh,
        normals,
    })
}

/// The surfaces of every structure present in `labels`, in [`Structure::ALL`] order, built in
/// parallel.
pub fn extract_surfaces(
    labels: &LabelVolume,
    smoothing: &TaubinParams,
) -> Result<Vec<Surface>, MeshError> {
    let (organ, lesions) = rayon::join(
        || structure_surface(labels, Structure::Organ, smoothing),
        || structure_surface(labels, Structure::Lesions, smoothing),
    );
    Ok([organ?, lesions?].into_iter().flatten().collect())
}
