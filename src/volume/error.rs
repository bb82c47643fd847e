//! Errors of the `volume` module. Every error that concerns a file names that file.

use std::path::{Path, PathBuf};

/// What went wrong while reading, checking or writing a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The file could not be opened, read or written.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not a NIfTI file we can read, or its header is inconsistent.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// The geometry (dimensions, spacing, affine) is unusable.
    #[error("{0}")]
    Geometry(String),
    /// Two volumes that must share a grid do not.
    #[error("{0}")]
    Mismatch(String),
}

impl VolumeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn geometry(message: impl Into<String>) -> Self {
        Self::Geometry(message.into())
    }

    /// Attaches a file name to an error that did not carry one.
    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Geometry(message) | Self::Mismatch(message) => Self::format(path, message),
            other => other,
        }
    }
}
