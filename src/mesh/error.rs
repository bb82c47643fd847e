//! Errors of the `mesh` module. Every error that concerns a file names that file.

use std::path::PathBuf;

/// What went wrong while building or writing a mesh.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A mesh file could not be written.
    /// (The I/O error is part of the message, not a separate source, so that it is printed
    /// once.)
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The surface has more vertices or triangles than 32-bit indices can address.
    #[error("surface too large: {0} vertices or triangles exceed 32-bit indices")]
    TooLarge(usize),
    /// An argument is outside its documented range.
    #[error("{0}")]
    InvalidArgument(String),
}
