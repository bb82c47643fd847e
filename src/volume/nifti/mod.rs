//! NIfTI-1/NIfTI-2 reading and writing (`.nii`, `.nii.gz`, `.hdr`/`.img` pairs).
//!
//! Reading validates everything a file claims before trusting it (dimensions against the file
//! size, spacing, affine, data type), converts voxels to HU (`f32`, scaling applied) or to `u8`
//! labels, and reorients them to RAS. Every error names the file.

mod datatype;
mod header;
mod read;
mod write;

pub use datatype::{DataType, NiftiScalar, Scaling};
pub use header::{AffineSource, NiftiHeader};
pub(crate) use read::check_same_grid;
pub use read::{
    NiftiSource, read_ct, read_ct_bytes, read_labels, read_labels_bytes, read_labels_for,
    read_source,
};
pub use write::{check_output_path, write_in_source_grid, write_volume};
