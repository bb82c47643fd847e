//! Reading NIfTI files into RAS-ordered [`CtVolume`]s and [`LabelVolume`]s.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::Matrix4;
use rayon::prelude::*;

use super::datatype::{DataType, decode_into, decode_to_f32};
use super::header::{AffineSource, NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES, NiftiHeader};
use crate::volume::{AxisMap, CtVolume, Grid, LabelVolume, Volume, VolumeError};

/// The largest ratio DEFLATE can reach (about 1032:1); a header claiming more voxel bytes than
/// this allows for its compressed size is lying, and we refuse before allocating anything.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Where a volume came from and how its voxels were reordered, so that results can be written
/// back in the file's own grid, axis order and affine.
#[derive(Debug, Clone)]
pub struct NiftiSource {
    pub path: PathBuf,
    pub header: NiftiHeader,
    pub data_type: DataType,
    /// Voxel counts in the file's own axis order.
    pub file_dims: [usize; 3],
    /// The file's affine (mm), in its own voxel order.
    pub world_from_file_voxel: Matrix4<f64>,
    pub affine_source: AffineSource,
    /// The reordering applied on load: RAS voxel order = `ras_from_file` applied to file order.
    pub ras_from_file: AxisMap,
}

impl NiftiSource {
    /// The file's voxel axis orientation code, e.g. `"LPS"`.
    pub fn file_orientation_code(&self) -> String {
        Grid {
            dims: self.file_dims,
            world_from_voxel: self.world_from_file_voxel,
        }
        .orientation_code()
    }
}

/// Reads a file's header and geometry only (cheap: decompresses just the header).
pub fn read_source(path: &Path) -> Result<NiftiSource, VolumeError> {
    let bytes = read_file(path)?;
    let head = if is_gzip(&bytes) {
        let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
        let mut head = Vec::with_capacity(NIFTI2_HEADER_BYTES);
        (&mut decoder)
            .take(NIFTI2_HEADER_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| gzip_error(path, e))?;
        head
    } else {
        bytes
    };
    let header = NiftiHeader::parse(&head).map_err(|m| VolumeError::format(path, m))?;
    source_of(path, header)
}

/// Reads a CT volume: voxels in HU (`scl_slope`/`scl_inter` applied), RAS order.
/// NaN or infinite voxels are refused.
pub fn read_ct(path: &Path) -> Result<CtVolume, VolumeError> {
    read_ct_bytes(path, read_file(path)?)
}

/// [`read_ct`] on the bytes of a file already in memory; `path` names it in messages (and
/// locates the `.img` of a `.hdr`/`.img` pair).
pub fn read_ct_bytes(path: &Path, bytes: Vec<u8>) -> Result<CtVolume, VolumeError> {
    let (source, data) = voxel_bytes(path, bytes)?;
    let count = source.file_dims.iter().product::<usize>();
    let (data_type, big_endian, scaling) = (
        source.data_type,
        source.header.big_endian,
        source.header.scaling(),
    );
    let size = data_type.size_bytes();
    // Decoding and reordering to RAS happen in one pass, written straight to the output.
    let mut hu = vec![0.0f32; count];
    source
        .ras_from_file
        .fill_rows(source.file_dims, &mut hu, |dst, row| match row.step {
            1 => {
                let bytes = &data[row.first * size..(row.first + dst.len()) * size];
                decode_into(bytes, data_type, big_endian, scaling, dst);
            }
            -1 => {
                let last = row.input_index(dst.len() - 1);
                let bytes = &data[last * size..(row.first + 1) * size];
                decode_into(bytes, data_type, big_endian, scaling, dst);
                dst.reverse();
            }
            _ => {
                for (x, d) in dst.iter_mut().enumerate() {
                    let i = row.input_index(x) * size;
                    let one = std::slice::from_mut(d);
                    decode_into(&data[i..i + size], data_type, big_endian, scaling, one);
                }
            }
        });
    drop(data);
    if source.data_type.is_float() {
        let bad = hu.par_iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(VolumeError::format(
                path,
                format!("{bad} voxels are NaN or infinite; a CT must hold finite HU values"),
            ));
        }
    }
    ras_volume(source, hu)
}

/// Reads a label map into `u8` labels, RAS order. Every (scaled) value must be an integer in
/// 0..=255; anything else is refused with the offending value.
pub fn read_labels(path: &Path) -> Result<LabelVolume, VolumeError> {
    read_labels_bytes(path, read_file(path)?)
}

/// [`read_labels`] on the bytes of a file already in memory; `path` names it in messages.
pub fn read_labels_bytes(path: &Path, bytes: Vec<u8>) -> Result<LabelVolume, VolumeError> {
    let (source, data) = voxel_bytes(path, bytes)?;
    let count = source.file_dims.iter().product::<usize>();
    let size = source.data_type.size_bytes();
    let mut labels = vec![0u8; count];
    const CHUNK: usize = 1 << 16;
    let bad_value = labels
        .par_chunks_mut(CHUNK)
        .zip(data.par_chunks(CHUNK * size))
        .map(|(dst, src)| {
            let mut values = vec![0.0f32; dst.len()];
            decode_to_f32(
                src,
                source.data_type,
                source.header.big_endian,
                source.header.scaling(),
                &mut values,
            );
            for (d, &v) in dst.iter_mut().zip(&values) {
                if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
                    return Some(v);
                }
                *d = v as u8;
            }
            None
        })
        .find_any(|bad| bad.is_some())
        .flatten();
    if let Some(v) = bad_value {
        return Err(VolumeError::format(
            path,
            format!(
                "not a label map: it holds the value {v}, but labels must be integers from 0 to 255"
            ),
        ));
    }
    drop(data);
    into_ras_volume(source, labels)
}

/// Reads a label map that belongs to `ct`: it may store its voxels in another axis order, but
/// must describe the same grid in world space (same dimensions, corners within a tenth of a
/// voxel). The result shares `ct`'s RAS grid exactly.
pub fn read_labels_for(path: &Path, ct: &CtVolume) -> Result<LabelVolume, VolumeError> {
    let mut labels = read_labels(path)?;
    check_same_grid(&labels.grid, &ct.grid).map_err(|m| {
        let ct_name = ct
            .source
            .as_ref()
            .map(|s| s.path.display().to_string())
            .unwrap_or_else(|| "the CT".into());
        VolumeError::format(path, format!("label map does not fit {ct_name}: {m}"))
    })?;
    labels.grid = ct.grid.clone();
    Ok(labels)
}

pub(crate) fn check_same_grid(labels: &Grid, ct: &Grid) -> Result<(), String> {
    if labels.dims != ct.dims {
        return Err(format!(
            "its grid is {:?} voxels (RAS order), the CT's is {:?}",
            labels.dims, ct.dims
        ));
    }
    let tolerance_mm = 0.1 * ct.spacing_mm().into_iter().fold(f64::INFINITY, f64::min);
    let last = ct.dims.map(|d| (d - 1) as f64);
    for corner in 0..8 {
        let v = [0, 1, 2].map(|a| if corner >> a & 1 == 1 { last[a] } else { 0.0 });
        let distance = (labels.world_of_voxel(v) - ct.world_of_voxel(v)).norm();
        if distance > tolerance_mm {
            return Err(format!(
                "its voxel {v:?} lies {distance:.2} mm from the CT's (affines differ)"
            ));
        }
    }
    Ok(())
}

/// Reorders file-ordered voxels to RAS and wraps them with their grid and source.
fn into_ras_volume<T: Copy + Send + Sync>(
    source: NiftiSource,
    file_voxels: Vec<T>,
) -> Result<Volume<T>, VolumeError> {
    let map = source.ras_from_file;
    let voxels = if map.is_identity() {
        file_voxels
    } else {
        map.apply(&file_voxels, source.file_dims)
    };
    ras_volume(source, voxels)
}

/// Wraps voxels already in RAS order with their grid and source.
fn ras_volume<T: Copy>(source: NiftiSource, voxels: Vec<T>) -> Result<Volume<T>, VolumeError> {
    let map = source.ras_from_file;
    let dims = map.output_dims(source.file_dims);
    let affine = map.output_affine(&source.world_from_file_voxel, source.file_dims);
    let grid = Grid::new(dims, affine).map_err(|e| e.in_file(&source.path))?;
    let mut volume = Volume::new(grid, voxels).map_err(|e| e.in_file(&source.path))?;
    volume.source = Some(Arc::new(source));
    Ok(volume)
}

fn source_of(path: &Path, header: NiftiHeader) -> Result<NiftiSource, VolumeError> {
    let err = |m: String| VolumeError::format(path, m);
    let data_type = header.data_type().map_err(err)?;
    let file_dims = header.spatial_dims().map_err(err)?;
    let (world_from_file_voxel, affine_source) = header.world_from_voxel().map_err(err)?;
    Grid::new(file_dims, world_from_file_voxel)
        .map_err(|e| VolumeError::format(path, format!("{} affine: {e}", affine_source.name())))?;
    Ok(NiftiSource {
        path: path.to_path_buf(),
        ras_from_file: AxisMap::to_ras(&world_from_file_voxel),
        header,
        data_type,
        file_dims,
        world_from_file_voxel,
        affine_source,
    })
}

/// Parses the header and extracts the raw voxel bytes (file order, exactly `voxels × size`
/// bytes) of a file's content.
fn voxel_bytes(path: &Path, bytes: Vec<u8>) -> Result<(NiftiSource, Vec<u8>), VolumeError> {
    if is_gzip(&bytes) {
        let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
        let mut head = Vec::with_capacity(NIFTI2_HEADER_BYTES);
        (&mut decoder)
            .take(NIFTI1_HEADER_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| gzip_error(path, e))?;
        if head.len() == NIFTI1_HEADER_BYTES && NiftiHeader::parse(&head).is_err() {
            // Possibly NIfTI-2: its header is longer.
            (&mut decoder)
                .take((NIFTI2_HEADER_BYTES - NIFTI1_HEADER_BYTES) as u64)
                .read_to_end(&mut head)
                .map_err(|e| gzip_error(path, e))?;
        }
        let header = NiftiHeader::parse(&head).map_err(|m| VolumeError::format(path, m))?;
        let source = source_of(path, header)?;
        let (offset, data_len) = data_extent(path, &source)?;
        let claimed = offset + data_len;
        if claimed > bytes.len() as u64 * MAX_DEFLATE_RATIO + (1 << 20) {
            return Err(VolumeError::format(
                path,
                format!(
                    "header claims {} voxels ({claimed} bytes) but the compressed file of {} bytes cannot hold that much",
                    source.file_dims.iter().product::<usize>(),
                    bytes.len()
                ),
            ));
        }
        let skip = offset.saturating_sub(head.len() as u64);
        let mut data = head.split_off((offset as usize).min(head.len()));
        std::io::copy(&mut (&mut decoder).take(skip), &mut std::io::sink())
            .map_err(|e| gzip_error(path, e))?;
        data.try_reserve_exact(data_len as usize - data.len().min(data_len as usize))
            .map_err(|_| {
                VolumeError::format(path, format!("not enough memory for {data_len} bytes"))
            })?;
        (&mut decoder)
            .take(data_len - data.len() as u64)
            .read_to_end(&mut data)
            .map_err(|e| gzip_error(path, e))?;
        check_complete(path, data.len() as u64, data_len)?;
        return Ok((source, data));
    }
    let header = NiftiHeader::parse(&bytes).map_err(|m| VolumeError::format(path, m))?;
    let source = source_of(path, header)?;
    let (offset, data_len) = data_extent(path, &source)?;
    if source.header.single_file {
        let available = (bytes.len() as u64).saturating_sub(offset);
        check_complete(path, available.min(data_len), data_len)?;
        let start = offset as usize;
        return Ok((source, bytes[start..start + data_len as usize].to_vec()));
    }
    // A .hdr/.img pair: the voxels live in the image file.
    let image_path = image_file_of(path)?;
    let image = read_file(&image_path)?;
    let image = if is_gzip(&image) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&image[..])
            .take(offset + data_len)
            .read_to_end(&mut out)
            .map_err(|e| gzip_error(&image_path, e))?;
        out
    } else {
        image
    };
    let available = (image.len() as u64).saturating_sub(offset);
    check_complete(&image_path, available.min(data_len), data_len)?;
    let start = offset as usize;
    Ok((source, image[start..start + data_len as usize].to_vec()))
}

/// Byte offset and byte length of the voxel data.
fn data_extent(path: &Path, source: &NiftiSource) -> Result<(u64, u64), VolumeError> {
    let header = &source.header;
    let min_offset = if !header.single_file {
        0
    } else if header.version == 1 {
        NIFTI1_HEADER_BYTES as i64
    } else {
        NIFTI2_HEADER_BYTES as i64
    };
    if header.vox_offset < min_offset {
        return Err(VolumeError::format(
            path,
            format!("vox_offset {} points inside the header", header.vox_offset),
        ));
    }
    let data_len = source
        .file_dims
        .iter()
        .try_fold(source.data_type.size_bytes() as u64, |acc, &d| {
            acc.checked_mul(d as u64)
        })
        .ok_or_else(|| {
            VolumeError::format(path, format!("absurd dimensions {:?}", source.file_dims))
        })?;
    Ok((header.vox_offset as u64, data_len))
}

fn check_complete(path: &Path, got: u64, wanted: u64) -> Result<(), VolumeError> {
    if got < wanted {
        return Err(VolumeError::format(
            path,
            format!(
                "file is truncated: the header promises {wanted} bytes of voxel data, the file holds {got}"
            ),
        ));
    }
    Ok(())
}

fn image_file_of(path: &Path) -> Result<PathBuf, VolumeError> {
    let name = path.to_string_lossy();
    let stem = name
        .strip_suffix(".hdr.gz")
        .or_else(|| name.strip_suffix(".hdr"))
        .ok_or_else(|| {
            VolumeError::format(
                path,
                "header says the voxels are in a separate .img file, but this is not a .hdr file",
            )
        })?;
    [".img", ".img.gz"]
        .iter()
        .map(|ext| PathBuf::from(format!("{stem}{ext}")))
        .find(|p| p.exists())
        .ok_or_else(|| VolumeError::format(path, "the matching .img file is missing"))
}

fn read_file(path: &Path) -> Result<Vec<u8>, VolumeError> {
    if path.is_dir() {
        return Err(VolumeError::format(path, "is a folder, not a NIfTI file"));
    }
    std::fs::read(path).map_err(|e| VolumeError::io(path, e))
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

fn gzip_error(path: &Path, e: std::io::Error) -> VolumeError {
    VolumeError::format(path, format!("corrupt gzip data: {e}"))
}
