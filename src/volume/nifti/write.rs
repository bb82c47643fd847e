//! Writing volumes as NIfTI-1 (`.nii`, or gzip-compressed when the name ends in `.gz`).
//!
//! Files are written to a temporary name beside the target and renamed, so an interrupted
//! write never leaves a broken file under the real name.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::datatype::NiftiScalar;
use super::header::NiftiHeader;
use crate::volume::{AxisMap, Volume, VolumeError};

/// Writes `volume` with its voxels reordered by `file_order` (file axes = the map's output
/// axes) and the affine adjusted so every voxel keeps its world position. The header is fresh:
/// sform and qform (code 1) both hold the affine, no intensity scaling.
pub fn write_volume<T: NiftiScalar>(
    path: &Path,
    volume: &Volume<T>,
    file_order: AxisMap,
) -> Result<(), VolumeError> {
    let dims = file_order.output_dims(volume.grid.dims);
    let affine = file_order.output_affine(&volume.grid.world_from_voxel, volume.grid.dims);
    let header = NiftiHeader::for_grid(dims, &affine, T::DATA_TYPE);
    let voxels = file_order.apply(&volume.voxels, volume.grid.dims);
    write_file(path, &header, &voxels)
}

/// Writes `volume` in the grid, axis order and affine of the file it (or the CT it belongs
/// to) was read from: the header's geometry fields are copied verbatim, so viewers overlay it
/// exactly on the original. Falls back to [`write_volume`] in RAS order for in-memory volumes.
pub fn write_in_source_grid<T: NiftiScalar>(
    path: &Path,
    volume: &Volume<T>,
) -> Result<(), VolumeError> {
    let Some(source) = &volume.source else {
        return write_volume(path, volume, AxisMap::IDENTITY);
    };
    let file_from_ras = source.ras_from_file.inverse();
    if file_from_ras.output_dims(volume.grid.dims) != source.file_dims {
        return Err(VolumeError::Mismatch(format!(
            "volume grid {:?} does not match its source {} ({:?})",
            volume.grid.dims,
            source.path.display(),
            source.file_dims
        )));
    }
    let mut header = source.header.clone();
    let [nx, ny, nz] = source.file_dims.map(|d| d as i64);
    header.dim = [3, nx, ny, nz, 1, 1, 1, 1];
    header.datatype_code = T::DATA_TYPE.code() as i64;
    header.scl_slope = 1.0;
    header.scl_inter = 0.0;
    header.vox_offset = 352;
    header.single_file = true;
    let voxels = file_from_ras.apply(&volume.voxels, volume.grid.dims);
    write_file(path, &header, &voxels)
}

fn write_file<T: NiftiScalar>(
    path: &Path,
    header: &NiftiHeader,
    voxels: &[T],
) -> Result<(), VolumeError> {
    let head = header
        .encode_nifti1()
        .map_err(|m| VolumeError::format(path, m))?;
    let mut body = Vec::with_capacity(head.len() + std::mem::size_of_val(voxels));
    body.extend_from_slice(&head);
    for &v in voxels {
        v.put_le(&mut body);
    }
    let gz = path.extension().is_some_and(|e| e == "gz");
    crate::atomic_file::write_atomically(path, |out| {
        if gz {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
            encoder.write_all(&body)?;
            encoder.finish()?;
            Ok(())
        } else {
            out.write_all(&body)
        }
    })
    .map_err(|e| VolumeError::io(path, e))
}

/// Refuses `out` as the file to write a volume to when it is not named as NIfTI (`.nii` or
/// `.nii.gz`) or is one of `inputs` (e.g. the CT and ground truth it was made from), which
/// writing would destroy. Inputs that do not exist are skipped.
pub fn check_output_path(out: &Path, inputs: &[PathBuf]) -> Result<(), VolumeError> {
    let name = out.to_string_lossy();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        return Err(VolumeError::format(
            out,
            "volumes are written as NIfTI: name the file .nii or .nii.gz",
        ));
    }
    let Ok(out_file) = std::fs::canonicalize(out) else {
        return Ok(()); // not there yet: nothing to overwrite
    };
    if let Some(input) = inputs
        .iter()
        .find(|p| std::fs::canonicalize(p).is_ok_and(|p| p == out_file))
    {
        return Err(VolumeError::format(
            out,
            format!(
                "that is an input ({}), which writing would destroy; choose another file",
                input.display()
            ),
        ));
    }
    Ok(())
}
