//! NIfTI reading and writing: data types, scaling, memory order, reorientation, bad input.

use std::path::{Path, PathBuf};

use nalgebra::Matrix4;
use oncoscope::volume::nifti::{
    self, DataType, NiftiHeader, NiftiScalar, read_ct, read_labels, write_in_source_grid,
    write_volume,
};
use oncoscope::volume::{AxisMap, Grid, Volume};

fn lps_affine() -> Matrix4<f64> {
    let mut m = Matrix4::identity();
    m[(0, 0)] = -0.8;
    m[(1, 1)] = -0.9;
    m[(2, 2)] = 2.5;
    m[(0, 3)] = 40.0;
    m[(1, 3)] = 35.0;
    m[(2, 3)] = -12.0;
    m
}

/// Writes a raw single-file NIfTI-1 with an arbitrary header and voxel bytes.
fn write_raw(path: &Path, header: &NiftiHeader, voxel_bytes: &[u8], gzip: bool) {
    let mut bytes = header.encode_nifti1().unwrap();
    bytes.extend_from_slice(voxel_bytes);
    if gzip {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        bytes = e.finish().unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn distinct_values(dims: [usize; 3]) -> Vec<f64> {
    let g = Grid::axis_aligned(dims, [1.0; 3], [0.0; 3]).unwrap();
    (0..g.voxel_count())
        .map(|i| {
            let [x, y, z] = g.coords(i);
            (x + 3 * y + 10 * z) as f64
        })
        .collect()
}

fn round_trip<T: NiftiScalar + PartialEq + std::fmt::Debug>(
    dir: &Path,
    convert: impl Fn(f64) -> T,
    file_order: AxisMap,
) {
    let dims = [2, 3, 4];
    let grid = Grid::new(
        dims,
        Matrix4::new_nonuniform_scaling(&[0.7, 0.8, 3.0].into()),
    )
    .unwrap();
    let values: Vec<T> = distinct_values(dims).into_iter().map(convert).collect();
    let volume = Volume::new(grid.clone(), values.clone()).unwrap();
    let path = dir.join(format!("{:?}.nii.gz", T::DATA_TYPE));
    write_volume(&path, &volume, file_order).unwrap();
    let ct = read_ct(&path).unwrap();
    assert_eq!(ct.grid.dims, dims, "{:?}", T::DATA_TYPE);
    assert!(
        (ct.grid.world_from_voxel - grid.world_from_voxel)
            .abs()
            .max()
            < 1e-5
    );
    let expected = distinct_values(dims);
    for (i, (&got, &want)) in ct.voxels.iter().zip(&expected).enumerate() {
        assert_eq!(got as f64, want, "{:?} voxel {i}", T::DATA_TYPE);
    }
    let source = ct.source.as_ref().unwrap();
    assert_eq!(source.data_type, T::DATA_TYPE);
    assert_eq!(source.ras_from_file, file_order.inverse());
}

#[test]
fn every_data_type_round_trips_through_any_axis_order() {
    let dir = tempfile::tempdir().unwrap();
    let lps_permuted = AxisMap {
        source_axis: [2, 0, 1],
        flip: [true, false, true],
    };
    for order in [AxisMap::IDENTITY, lps_permuted] {
        round_trip::<u8>(dir.path(), |v| v as u8, order);
        round_trip::<i8>(dir.path(), |v| v as i8, order);
        round_trip::<i16>(dir.path(), |v| v as i16, order);
        round_trip::<u16>(dir.path(), |v| v as u16, order);
        round_trip::<i32>(dir.path(), |v| v as i32, order);
        round_trip::<u32>(dir.path(), |v| v as u32, order);
        round_trip::<f32>(dir.path(), |v| v as f32, order);
        round_trip::<f64>(dir.path(), |v| v, order);
    }
}

#[test]
fn voxels_are_x_fastest_on_disk_and_in_memory() {
    // A 2×3×4 volume with distinct values, written by hand in NIfTI (Fortran) order.
    let dir = tempfile::tempdir().unwrap();
    let dims = [2usize, 3, 4];
    let header = NiftiHeader::for_grid(dims, &Matrix4::identity(), DataType::I16);
    let mut bytes = Vec::new();
    for z in 0..4 {
        for y in 0..3 {
            for x in 0..2 {
                bytes.extend_from_slice(&((x + 10 * y + 100 * z) as i16).to_le_bytes());
            }
        }
    }
    let path = dir.path().join("order.nii");
    write_raw(&path, &header, &bytes, false);
    let ct = read_ct(&path).unwrap();
    for z in 0..4 {
        for y in 0..3 {
            for x in 0..2 {
                assert_eq!(ct.at(x, y, z), (x + 10 * y + 100 * z) as f32);
            }
        }
    }
}

#[test]
fn scaling_is_applied_without_saturation_and_nan_slope_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [3usize, 1, 1];
    let raw: Vec<u8> = [-1i16, 300, 32767]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut header = NiftiHeader::for_grid(dims, &Matrix4::identity(), DataType::I16);
    header.scl_slope = 2.0;
    header.scl_inter = -1024.0;
    let path = dir.path().join("scaled.nii.gz");
    write_raw(&path, &header, &raw, true);
    assert_eq!(
        read_ct(&path).unwrap().voxels,
        vec![-1026.0, -424.0, 64510.0]
    );
    header.scl_slope = f64::NAN;
    write_raw(&path, &header, &raw, true);
    assert_eq!(read_ct(&path).unwrap().voxels, vec![-1.0, 300.0, 32767.0]);
}

#[test]
fn big_endian_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let header = NiftiHeader::for_grid([2, 1, 1], &Matrix4::identity(), DataType::F32);
    let mut bytes = header.encode_nifti1().unwrap();
    // Byte-swap every header field by re-encoding: swap the known multi-byte fields in place.
    let swap = |b: &mut [u8], o: usize, n: usize| b[o..o + n].reverse();
    swap(&mut bytes, 0, 4);
    for i in 0..8 {
        swap(&mut bytes, 40 + 2 * i, 2);
        swap(&mut bytes, 76 + 4 * i, 4);
    }
    for o in [70, 72, 252, 254] {
        swap(&mut bytes, o, 2);
    }
    for o in (108..120).step_by(4).chain((256..328).step_by(4)) {
        swap(&mut bytes, o, 4);
    }
    bytes.extend_from_slice(&1.5f32.to_be_bytes());
    bytes.extend_from_slice(&(-2.0f32).to_be_bytes());
    let path = dir.path().join("be.nii");
    std::fs::write(&path, bytes).unwrap();
    let ct = read_ct(&path).unwrap();
    assert_eq!(ct.voxels, vec![1.5, -2.0]);
    assert!(ct.source.unwrap().header.big_endian);
}

#[test]
fn four_d_with_one_volume_loads_and_several_volumes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = NiftiHeader::for_grid([2, 2, 2], &Matrix4::identity(), DataType::U8);
    header.dim = [4, 2, 2, 2, 1, 1, 1, 1];
    let path = dir.path().join("4d.nii");
    write_raw(&path, &header, &[1u8; 8], false);
    assert_eq!(read_labels(&path).unwrap().grid.dims, [2, 2, 2]);
    header.dim = [4, 2, 2, 2, 3, 1, 1, 1];
    write_raw(&path, &header, &[1u8; 24], false);
    let err = read_labels(&path).unwrap_err().to_string();
    assert!(err.contains("4d.nii") && err.contains("3 volumes"), "{err}");
}

#[test]
fn segmentation_is_written_in_the_source_grid() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [4usize, 5, 6];
    let header = NiftiHeader::for_grid(dims, &lps_affine(), DataType::I16);
    let raw: Vec<u8> = (0..120i16).flat_map(|v| v.to_le_bytes()).collect();
    let ct_path = dir.path().join("ct.nii.gz");
    write_raw(&ct_path, &header, &raw, true);
    let ct = read_ct(&ct_path).unwrap();
    assert_eq!(ct.grid.orientation_code(), "RAS");
    // Label 1 wherever the CT value is odd, computed in RAS order.
    let seg: Vec<u8> = ct.voxels.iter().map(|&v| (v as i32 % 2) as u8).collect();
    let seg = ct.with_voxels(seg).unwrap();
    let seg_path = dir.path().join("seg.nii.gz");
    write_in_source_grid(&seg_path, &seg).unwrap();
    // In the file, voxel order and affine are the CT's own.
    let back = nifti::read_source(&seg_path).unwrap();
    assert_eq!(back.file_dims, dims);
    assert!((back.world_from_file_voxel - lps_affine()).abs().max() < 1e-5);
    assert_eq!(back.data_type, DataType::U8);
    let labels = read_labels(&seg_path).unwrap();
    assert_eq!(labels.voxels, seg.voxels);
    // And raw file order: voxel i of the file is (i % 2).
    let mut decoded = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(std::fs::File::open(&seg_path).unwrap())
        .read_to_end(&mut decoded)
        .unwrap();
    let expected: Vec<u8> = (0..120).map(|i| (i % 2) as u8).collect();
    assert_eq!(&decoded[352..], &expected[..]);
}

fn assert_refused(path: &Path, what: &str) {
    let err = read_ct(path).expect_err(what).to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*name),
        "{what}: error does not name the file: {err}"
    );
    assert!(err.len() > name.len() + 10, "{what}: no explanation: {err}");
}

#[test]
fn bad_inputs_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| -> PathBuf { dir.path().join(n) };
    assert_refused(&d("missing.nii.gz"), "missing file");
    std::fs::create_dir(d("folder.nii")).unwrap();
    assert_refused(&d("folder.nii"), "directory");
    std::fs::write(d("text.nii"), b"this is a text file, not an image at all").unwrap();
    assert_refused(&d("text.nii"), "not NIfTI");
    std::fs::write(d("empty.nii.gz"), b"").unwrap();
    assert_refused(&d("empty.nii.gz"), "empty file");

    let good_header = NiftiHeader::for_grid([8, 8, 8], &lps_affine(), DataType::I16);
    let raw = vec![0u8; 8 * 8 * 8 * 2];
    write_raw(&d("good.nii.gz"), &good_header, &raw, true);
    let full = std::fs::read(d("good.nii.gz")).unwrap();
    std::fs::write(d("truncated.nii.gz"), &full[..full.len() / 2]).unwrap();
    assert_refused(&d("truncated.nii.gz"), "truncated gzip");
    let mut corrupt = full.clone();
    for b in corrupt.iter_mut().skip(20).take(40) {
        *b ^= 0x5a;
    }
    std::fs::write(d("corrupt.nii.gz"), &corrupt).unwrap();
    assert_refused(&d("corrupt.nii.gz"), "corrupt gzip");
    write_raw(&d("short.nii"), &good_header, &raw[..100], false);
    assert_refused(&d("short.nii"), "truncated raw");

    let mut absurd = good_header.clone();
    absurd.dim = [3, 30000, 30000, 30000, 1, 1, 1, 1];
    write_raw(&d("absurd.nii.gz"), &absurd, &raw, true);
    assert_refused(&d("absurd.nii.gz"), "absurd dims gz");
    write_raw(&d("absurd.nii"), &absurd, &raw, false);
    assert_refused(&d("absurd.nii"), "absurd dims raw");

    for (name, spacing) in [
        ("zero.nii", 0.0),
        ("negative.nii", -1.0),
        ("nan.nii", f64::NAN),
    ] {
        let mut h = good_header.clone();
        h.sform_code = 0;
        h.pixdim[2] = spacing;
        write_raw(&d(name), &h, &raw, false);
        assert_refused(&d(name), name);
    }
    let mut singular = good_header.clone();
    singular.srow[0] = [0.0, 0.0, 0.0, 1.0];
    write_raw(&d("singular.nii"), &singular, &raw, false);
    assert_refused(&d("singular.nii"), "singular affine");

    let float_header = NiftiHeader::for_grid([2, 1, 1], &Matrix4::identity(), DataType::F32);
    let nan: Vec<u8> = [1.0f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_raw(&d("nanvoxel.nii"), &float_header, &nan, false);
    assert_refused(&d("nanvoxel.nii"), "NaN voxels");

    let mut complex = good_header.clone();
    complex.datatype_code = 32;
    write_raw(&d("complex.nii"), &complex, &raw, false);
    assert_refused(&d("complex.nii"), "complex data type");
}

#[test]
fn label_maps_refuse_non_integer_and_large_values() {
    let dir = tempfile::tempdir().unwrap();
    let header = NiftiHeader::for_grid([2, 1, 1], &Matrix4::identity(), DataType::F32);
    for (name, values) in [
        ("frac.nii", [1.0f32, 1.5]),
        ("big.nii", [1.0, 300.0]),
        ("neg.nii", [-1.0, 0.0]),
    ] {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let path = dir.path().join(name);
        write_raw(&path, &header, &bytes, false);
        let err = read_labels(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("label"), "{err}");
    }
    let ok: Vec<u8> = [2.0f32, 255.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let path = dir.path().join("ok.nii");
    write_raw(&path, &header, &ok, false);
    assert_eq!(read_labels(&path).unwrap().voxels, vec![2, 255]);
}

#[test]
fn nifti2_files_are_read() {
    // Build a NIfTI-2 header by hand (540 bytes + 4 extension bytes).
    let mut h = vec![0u8; 544];
    let put = |h: &mut Vec<u8>, o: usize, b: &[u8]| h[o..o + b.len()].copy_from_slice(b);
    put(&mut h, 0, &540i32.to_le_bytes());
    put(&mut h, 4, b"n+2\0\r\n\x1a\n");
    put(&mut h, 12, &4i16.to_le_bytes()); // int16
    put(&mut h, 14, &16i16.to_le_bytes());
    for (i, d) in [3i64, 2, 2, 1, 1, 1, 1, 1].iter().enumerate() {
        put(&mut h, 16 + 8 * i, &d.to_le_bytes());
    }
    for (i, p) in [1.0f64, 0.5, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0]
        .iter()
        .enumerate()
    {
        put(&mut h, 104 + 8 * i, &p.to_le_bytes());
    }
    put(&mut h, 168, &544i64.to_le_bytes());
    put(&mut h, 176, &1.0f64.to_le_bytes());
    put(&mut h, 184, &(-10.0f64).to_le_bytes());
    put(&mut h, 348, &1i32.to_le_bytes()); // sform_code
    let rows: [[f64; 4]; 3] = [
        [-0.5, 0.0, 0.0, 5.0],
        [0.0, 0.5, 0.0, 6.0],
        [0.0, 0.0, 2.0, 7.0],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(&mut h, 400 + 32 * r + 8 * c, &v.to_le_bytes());
        }
    }
    for v in [1i16, 2, 3, 4] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.nii");
    std::fs::write(&path, &h).unwrap();
    let ct = read_ct(&path).unwrap();
    // x is flipped to RAS: file row (1, 2) becomes (2, 1).
    assert_eq!(ct.voxels, vec![-8.0, -9.0, -6.0, -7.0]);
    assert_eq!(ct.source.as_ref().unwrap().header.version, 2);
    assert_eq!(ct.grid.spacing_mm(), [0.5, 0.5, 2.0]);
}

#[test]
fn a_failed_write_names_the_file_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::new([2, 2, 2], Matrix4::identity()).unwrap();
    let volume: Volume<u8> = Volume::new(grid, vec![1; 8]).unwrap();
    // A folder where the file should go: the rename onto it fails after the data is written.
    let path = dir.path().join("seg.nii.gz");
    std::fs::create_dir(&path).unwrap();
    let err = write_volume(&path, &volume, AxisMap::IDENTITY).unwrap_err();
    assert!(err.to_string().contains("seg.nii.gz"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("seg.nii.gz")],
        "{left:?}"
    );
    assert!(path.is_dir(), "the folder is left as it was");
}
