//! Surfaces and lesion measurements from label maps.
//!
//! Responsible for: iso-surfaces of label structures in world (RAS+) millimetres
//! ([`marching_cubes()`] over a cropped, padded [`PaddedField`]), Taubin smoothing, area-weighted
//! normals, mesh checks ([`edge_report`]), the lesion table (26-connected tumour components with
//! volumes from voxels), lesion matching against a ground truth and detection figures over many
//! cases, and STL/PLY/OBJ export.
//!
//! Headless: never imports egui or wgpu, so the CLI, the jobs and the tests use it alike.
//! Volumes always come from voxel counts, never from (smoothed) meshes.

mod agreement;
pub mod bench;
mod components;
mod detection;
mod diameter;
mod error;
pub mod export;
mod field;
mod lesions;
pub mod marching_cubes;
mod matching;
mod normals;
mod smoothing;
mod structure;
mod surfaces;
mod tables;
mod topology;
mod tri_mesh;

pub use agreement::{Agreement, AgreementSurface, agreement_surfaces};
pub use components::connected_components_26;
pub use detection::{LesionDetection, SizeClass, equivalent_diameter_mm};
pub use diameter::longest_diameter_mm;
pub use error::MeshError;
pub use export::{ExportFormat, write_surface};
pub use field::{PaddedField, VoxelBox};
pub use lesions::{Lesion, LesionTable, StructureVolume, lesion_table, ranked_tumour_components};
pub use marching_cubes::marching_cubes;
pub use matching::{LesionMatching, match_lesions};
pub use normals::{face_normal, vertex_normals};
pub use smoothing::{TaubinParams, taubin_smooth};
pub use structure::Structure;
pub use surfaces::{Surface, extract_surfaces, structure_surface};
pub use topology::{EdgeReport, edge_report};
pub use tri_mesh::TriMesh;
