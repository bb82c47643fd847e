//! The NIfTI-1 and NIfTI-2 headers: parsing (either byte order), validation, the voxel → world
//! affine, and encoding of NIfTI-1 headers for writing.
//!
//! We parse headers ourselves rather than through the `nifti` crate: 0.18 reads only NIfTI-1,
//! saturates integer reads after scaling and always writes `scl_slope = 1`
//! (`../shared/STACK-NOTES.md` §4). Owning the 348/540-byte layouts is simpler than working
//! around that.

use nalgebra::{Matrix3, Matrix4};

use super::datatype::{DataType, Scaling};

/// Size of a NIfTI-1 header, and of NIfTI-2's.
pub const NIFTI1_HEADER_BYTES: usize = 348;
pub const NIFTI2_HEADER_BYTES: usize = 540;

/// The header fields Oncoscope uses, widened to NIfTI-2 precision.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// 1 or 2.
    pub version: u8,
    pub big_endian: bool,
    /// `dim[0]` is the number of dimensions, `dim[1..=dim[0]]` their sizes.
    pub dim: [i64; 8],
    pub datatype_code: i64,
    /// `pixdim[0]` is qfac; `pixdim[1..=3]` voxel spacing (units in `xyzt_units`).
    pub pixdim: [f64; 8],
    /// Byte offset of the voxel data in the (decompressed) file.
    pub vox_offset: i64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub xyzt_units: i32,
    pub qform_code: i32,
    pub sform_code: i32,
    /// quatern_b, quatern_c, quatern_d.
    pub quatern: [f64; 3],
    /// qoffset_x, qoffset_y, qoffset_z (mm).
    pub qoffset: [f64; 3],
    /// srow_x, srow_y, srow_z: rows of the sform affine.
    pub srow: [[f64; 4]; 3],
    pub descrip: String,
    /// `true` when the magic says the header and data are in one `.nii` file.
    pub single_file: bool,
}

/// Which affine of the header gave the voxel → world mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffineSource {
    Sform,
    Qform,
    Pixdim,
}

impl AffineSource {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sform => "sform",
            Self::Qform => "qform",
            Self::Pixdim => "pixdim",
        }
    }
}

struct Bytes<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Bytes<'_> {
    fn take<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.data[offset..offset + N]);
        if self.big_endian {
            a.reverse();
        }
        a
    }
    fn i16(&self, o: usize) -> i16 {
        i16::from_le_bytes(self.take(o))
    }
    fn i32(&self, o: usize) -> i32 {
        i32::from_le_bytes(self.take(o))
    }
    fn i64(&self, o: usize) -> i64 {
        i64::from_le_bytes(self.take(o))
    }
    fn f32(&self, o: usize) -> f64 {
        f32::from_le_bytes(self.take(o)) as f64
    }
    fn f64(&self, o: usize) -> f64 {
        f64::from_le_bytes(self.take(o))
    }
    fn text(&self, o: usize, len: usize) -> String {
        let raw = &self.data[o..o + len];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).trim().to_string()
    }
}

impl NiftiHeader {
    /// Parses a header from the first bytes of a (decompressed) NIfTI file.
    /// Errors are plain messages; the caller adds the file name.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        if data.len() < 4 {
            return Err("file is too short to hold a NIfTI header".into());
        }
        let size_le = i32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let size_be = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let (version, big_endian) = match (size_le, size_be) {
            (348, _) => (1, false),
            (_, 348) => (1, true),
            (540, _) => (2, false),
            (_, 540) => (2, true),
            _ => {
                return Err(
                    "not a NIfTI file (the header size field is neither 348 nor 540)".into(),
                );
            }
        };
        let needed = if version == 1 {
            NIFTI1_HEADER_BYTES
        } else {
            NIFTI2_HEADER_BYTES
        };
        if data.len() < needed {
            return Err(format!(
                "file ends inside the NIfTI-{version} header ({} of {needed} bytes)",
                data.len()
            ));
        }
        let b = Bytes { data, big_endian };
        let header = if version == 1 {
            Self::parse_v1(&b)?
        } else {
            Self::parse_v2(&b)?
        };
        Ok(header)
    }

    fn parse_v1(b: &Bytes) -> Result<Self, String> {
        let magic = &b.data[344..348];
        let single_file = match magic {
            b"n+1\0" => true,
            b"ni1\0" => false,
            _ => return Err("bad NIfTI-1 magic (expected \"n+1\" or \"ni1\")".into()),
        };
        Ok(Self {
            version: 1,
            big_endian: b.big_endian,
            dim: std::array::from_fn(|i| b.i16(40 + 2 * i) as i64),
            datatype_code: b.i16(70) as i64,
            pixdim: std::array::from_fn(|i| b.f32(76 + 4 * i)),
            vox_offset: {
                let v = b.f32(108);
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("invalid vox_offset {v}"));
                }
                v as i64
            },
            scl_slope: b.f32(112),
            scl_inter: b.f32(116),
            xyzt_units: b.data[123] as i32,
            qform_code: b.i16(252) as i32,
            sform_code: b.i16(254) as i32,
            quatern: [b.f32(256), b.f32(260), b.f32(264)],
            qoffset: [b.f32(268), b.f32(272), b.f32(276)],
            srow: std::array::from_fn(|r| std::array::from_fn(|c| b.f32(280 + 16 * r + 4 * c))),
            descrip: b.text(148, 80),
            single_file,
        })
    }

    fn parse_v2(b: &Bytes) -> Result<Self, String> {
        let magic = &b.data[4..12];
        let single_file = match magic {
            b"n+2\0\r\n\x1a\n" => true,
            b"ni2\0\r\n\x1a\n" => false,
            _ => return Err("bad NIfTI-2 magic".into()),
        };
        Ok(Self {
            version: 2,
            big_endian: b.big_endian,
            dim: std::array::from_fn(|i| b.i64(16 + 8 * i)),
            datatype_code: b.i16(12) as i64,
            pixdim: std::array::from_fn(|i| b.f64(104 + 8 * i)),
            vox_offset: b.i64(168),
            scl_slope: b.f64(176),
            scl_inter: b.f64(184),
            xyzt_units: b.i32(500),
            qform_code: b.i32(344),
            sform_code: b.i32(348),
            quatern: [b.f64(352), b.f64(360), b.f64(368)],
            qoffset: [b.f64(376), b.f64(384), b.f64(392)],
            srow: std::array::from_fn(|r| std::array::from_fn(|c| b.f64(400 + 32 * r + 8 * c))),
            descrip: b.text(240, 80),
            single_file,
        })
    }

    /// The voxel data type, or why it is unsupported.
    pub fn data_type(&self) -> Result<DataType, String> {
        DataType::from_code(self.datatype_code)
    }

    /// The scaling to apply to stored values.
    pub fn scaling(&self) -> Scaling {
        Scaling::from_header(self.scl_slope, self.scl_inter)
    }

    /// The 3D spatial dimensions, refusing anything but a 3D image or a 4D image with a single
    /// volume (trailing dimensions of size 1 are accepted).
    pub fn spatial_dims(&self) -> Result<[usize; 3], String> {
        let ndim = self.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(format!("invalid number of dimensions dim[0] = {ndim}"));
        }
        let ndim = ndim as usize;
        let sizes = &self.dim[1..=ndim];
        if let Some(bad) = sizes.iter().find(|&&d| d <= 0) {
            return Err(format!("invalid dimension size {bad} in dim {sizes:?}"));
        }
        if ndim < 3 {
            return Err(format!(
                "{ndim}D image {sizes:?}: only 3D volumes (or 4D with one volume) can be loaded"
            ));
        }
        if sizes[3..].iter().any(|&d| d != 1) {
            return Err(format!(
                "{ndim}D image {sizes:?} holds {} volumes: only 3D volumes (or 4D with one volume) can be loaded",
                sizes[3..].iter().fold(1i64, |n, &d| n.saturating_mul(d))
            ));
        }
        Ok([sizes[0] as usize, sizes[1] as usize, sizes[2] as usize])
    }

    /// Millimetres per spatial unit of `xyzt_units` (0 "unknown" is taken as mm).
    pub fn mm_per_unit(&self) -> f64 {
        match self.xyzt_units & 0x07 {
            1 => 1000.0, // metre
            3 => 0.001,  // micron
            _ => 1.0,    // unknown or mm
        }
    }

    /// The voxel → world (mm) affine and where it came from: sform when `sform_code > 0`,
    /// else qform when `qform_code > 0`, else a scaling by `pixdim`.
    pub fn world_from_voxel(&self) -> Result<(Matrix4<f64>, AffineSource), String> {
        let unit = self.mm_per_unit();
        let (mut m, source) = if self.sform_code > 0 {
            let mut m = Matrix4::identity();
            for r in 0..3 {
                for c in 0..4 {
                    m[(r, c)] = self.srow[r][c];
                }
            }
            (m, AffineSource::Sform)
        } else if self.qform_code > 0 {
            self.check_spacing()?;
            (self.qform_affine(), AffineSource::Qform)
        } else {
            self.check_spacing()?;
            let mut m = Matrix4::identity();
            for a in 0..3 {
                m[(a, a)] = self.pixdim[a + 1];
            }
            (m, AffineSource::Pixdim)
        };
        if unit != 1.0 {
            for r in 0..3 {
                for c in 0..4 {
                    m[(r, c)] *= unit;
                }
            }
        }
        Ok((m, source))
    }

    fn check_spacing(&self) -> Result<(), String> {
        let spacing = &self.pixdim[1..4];
        if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(format!(
                "invalid voxel spacing pixdim[1..4] = {spacing:?} (must be finite and positive)"
            ));
        }
        Ok(())
    }

    /// The qform affine from the quaternion, `pixdim` and `qfac` (NIfTI-1 method 2).
    fn qform_affine(&self) -> Matrix4<f64> {
        let [b, c, d] = self.quatern;
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let rotation = Matrix3::new(
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        );
        let qfac = if self.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let scale = Matrix3::from_diagonal(&nalgebra::Vector3::new(
            self.pixdim[1],
            self.pixdim[2],
            self.pixdim[3] * qfac,
        ));
        let linear = rotation * scale;
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&linear);
        for r in 0..3 {
            m[(r, 3)] = self.qoffset[r];
        }
        m
    }

    /// A NIfTI-1 header for a 3D grid of `dims` voxels of `data_type`, with the given affine
    /// stored as both sform and qform (code 1, scanner anatomical), spacing in mm, no scaling.
    pub fn for_grid(
        dims: [usize; 3],
        world_from_voxel: &Matrix4<f64>,
        data_type: DataType,
    ) -> Self {
        let mut h = Self {
            version: 1,
            big_endian: false,
            dim: [
                3,
                dims[0] as i64,
                dims[1] as i64,
                dims[2] as i64,
                1,
                1,
                1,
                1,
            ],
            datatype_code: data_type.code() as i64,
            pixdim: [1.0; 8],
            vox_offset: 352,
            scl_slope: 1.0,
            scl_inter: 0.0,
            xyzt_units: 2, // millimetres
            qform_code: 1,
            sform_code: 1,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
            descrip: "Oncoscope".into(),
            single_file: true,
        };
        h.set_affine(world_from_voxel);
        h
    }

    /// Stores `world_from_voxel` (mm) as the sform and, as far as a rotation allows, the qform.
    pub fn set_affine(&mut self, world_from_voxel: &Matrix4<f64>) {
        for r in 0..3 {
            for c in 0..4 {
                self.srow[r][c] = world_from_voxel[(r, c)];
            }
        }
        let linear: Matrix3<f64> = world_from_voxel.fixed_view::<3, 3>(0, 0).into();
        let spacing = [0, 1, 2].map(|c| linear.column(c).norm());
        let mut rotation = linear;
        for (c, s) in spacing.iter().enumerate() {
            if *s > 0.0 {
                rotation.column_mut(c).scale_mut(1.0 / s);
            }
        }
        // A quaternion encodes a proper rotation: a reflection goes into qfac on the z axis.
        let qfac = if rotation.determinant() < 0.0 {
            rotation.column_mut(2).neg_mut();
            -1.0
        } else {
            1.0
        };
        // Nearest rotation (polar decomposition) in case the columns are not quite orthogonal.
        let svd = rotation.svd(true, true);
        if let (Some(u), Some(v_t)) = (svd.u, svd.v_t) {
            rotation = u * v_t;
        }
        // Closed form (no iterative solver: `from_matrix` can fail to converge, seen hanging
        // on an LPS grid with 5.0347 mm spacing).
        let q = nalgebra::UnitQuaternion::from_rotation_matrix(
            &nalgebra::Rotation3::from_matrix_unchecked(rotation),
        );
        // q and -q are the same rotation; NIfTI stores the one with a non-negative real part.
        let sign = if q.w < 0.0 { -1.0 } else { 1.0 };
        self.quatern = [sign * q.i, sign * q.j, sign * q.k];
        self.qoffset = [0, 1, 2].map(|r| world_from_voxel[(r, 3)]);
        self.pixdim[0] = qfac;
        self.pixdim[1..4].copy_from_slice(&spacing);
        self.xyzt_units = (self.xyzt_units & !0x07) | 2;
    }

    /// Encodes as a little-endian single-file NIfTI-1 header (348 bytes) plus the 4-byte
    /// empty extension flag, i.e. the 352 bytes before the voxel data.
    pub fn encode_nifti1(&self) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; 352];
        let fits = |v: i64| i16::try_from(v).is_ok();
        if !self.dim.iter().all(|&d| fits(d)) {
            return Err(format!(
                "dimensions {:?} exceed the NIfTI-1 limit of 32767",
                &self.dim[1..]
            ));
        }
        let put = |out: &mut Vec<u8>, o: usize, b: &[u8]| out[o..o + b.len()].copy_from_slice(b);
        put(&mut out, 0, &348i32.to_le_bytes());
        for (i, d) in self.dim.iter().enumerate() {
            put(&mut out, 40 + 2 * i, &(*d as i16).to_le_bytes());
        }
        put(&mut out, 70, &(self.datatype_code as i16).to_le_bytes());
        let bitpix = DataType::from_code(self.datatype_code)
            .map(|t| 8 * t.size_bytes() as i16)
            .unwrap_or(0);
        put(&mut out, 72, &bitpix.to_le_bytes());
        for (i, p) in self.pixdim.iter().enumerate() {
            put(&mut out, 76 + 4 * i, &(*p as f32).to_le_bytes());
        }
        put(&mut out, 108, &352f32.to_le_bytes());
        put(&mut out, 112, &(self.scl_slope as f32).to_le_bytes());
        put(&mut out, 116, &(self.scl_inter as f32).to_le_bytes());
        out[123] = self.xyzt_units as u8;
        let descrip = self.descrip.as_bytes();
        put(&mut out, 148, &descrip[..descrip.len().min(79)]);
        put(&mut out, 252, &(self.qform_code as i16).to_le_bytes());
        put(&mut out, 254, &(self.sform_code as i16).to_le_bytes());
        for i in 0..3 {
            put(
                &mut out,
                256 + 4 * i,
                &(self.quatern[i] as f32).to_le_bytes(),
            );
            put(
                &mut out,
                268 + 4 * i,
                &(self.qoffset[i] as f32).to_le_bytes(),
            );
        }
        for r in 0..3 {
            for c in 0..4 {
                put(
                    &mut out,
                    280 + 16 * r + 4 * c,
                    &(self.srow[r][c] as f32).to_le_bytes(),
                );
            }
        }
        put(&mut out, 344, b"n+1\0");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine_lps() -> Matrix4<f64> {
        let mut m = Matrix4::identity();
        m[(0, 0)] = -0.75;
        m[(1, 1)] = -0.8;
        m[(2, 2)] = 2.5;
        m[(0, 3)] = 190.0;
        m[(1, 3)] = 170.0;
        m[(2, 3)] = -300.0;
        m
    }

    #[test]
    fn encoded_header_parses_back_with_equal_sform_and_qform() {
        let m = affine_lps();
        let h = NiftiHeader::for_grid([5, 6, 7], &m, DataType::I16);
        let bytes = h.encode_nifti1().unwrap();
        let back = NiftiHeader::parse(&bytes).unwrap();
        assert_eq!(back.spatial_dims().unwrap(), [5, 6, 7]);
        assert_eq!(back.data_type().unwrap(), DataType::I16);
        let (sform, source) = back.world_from_voxel().unwrap();
        assert_eq!(source, AffineSource::Sform);
        assert!((sform - m).abs().max() < 1e-5);
        // The qform alone must describe the same grid.
        let mut q_only = back.clone();
        q_only.sform_code = 0;
        let (qform, source) = q_only.world_from_voxel().unwrap();
        assert_eq!(source, AffineSource::Qform);
        assert!((qform - m).abs().max() < 1e-4, "{qform} vs {m}");
    }

    #[test]
    fn qform_round_trips_for_all_48_axis_orders() {
        let permutations = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for p in permutations {
            for signs in 0..8 {
                let mut a = Matrix4::zeros();
                a[(3, 3)] = 1.0;
                for (col, &row) in p.iter().enumerate() {
                    let sign = if signs >> col & 1 == 1 { -1.0 } else { 1.0 };
                    a[(row, col)] = sign * [0.7, 0.9, 5.0347][col];
                }
                let mut h = NiftiHeader::for_grid([3, 3, 3], &a, DataType::U8);
                h.sform_code = 0;
                let (q, _) = h.world_from_voxel().unwrap();
                assert!((q - a).abs().max() < 1e-5, "{p:?} {signs}: {q} vs {a}");
            }
        }
    }

    #[test]
    fn qform_of_a_permuted_oblique_affine_round_trips() {
        let r = nalgebra::Rotation3::from_euler_angles(0.2, -0.1, 0.3).into_inner();
        let perm = Matrix3::new(0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0);
        let linear = r * perm * Matrix3::from_diagonal(&nalgebra::Vector3::new(0.7, 0.9, 3.0));
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&linear);
        let mut h = NiftiHeader::for_grid([4, 4, 4], &m, DataType::U8);
        h.sform_code = 0;
        let (q, _) = h.world_from_voxel().unwrap();
        assert!((q - m).abs().max() < 1e-9, "{q} vs {m}");
    }

    #[test]
    fn refuses_bad_shapes_and_spacing() {
        let mut h = NiftiHeader::for_grid([4, 4, 4], &Matrix4::identity(), DataType::U8);
        h.dim = [4, 4, 4, 4, 3, 1, 1, 1];
        assert!(h.spatial_dims().unwrap_err().contains("3 volumes"));
        h.dim = [4, 4, 4, 4, 1, 1, 1, 1];
        assert_eq!(h.spatial_dims().unwrap(), [4, 4, 4]);
        h.dim = [2, 4, 4, 1, 1, 1, 1, 1];
        assert!(h.spatial_dims().is_err());
        h.dim = [3, 4, 0, 4, 1, 1, 1, 1];
        assert!(h.spatial_dims().is_err());
        // Found by fuzzing: NIfTI-2 sizes whose product overflows i64.
        h.dim = [6, 2, 2, 2, 1 << 40, 1 << 40, 1 << 40, 1];
        assert!(h.spatial_dims().unwrap_err().contains("volumes"));
        h.sform_code = 0;
        h.qform_code = 0;
        h.pixdim[2] = f64::NAN;
        assert!(h.world_from_voxel().unwrap_err().contains("spacing"));
        h.pixdim[2] = -1.0;
        assert!(h.world_from_voxel().is_err());
    }

    #[test]
    fn rejects_non_nifti_bytes() {
        assert!(NiftiHeader::parse(b"hello world, this is not nifti").is_err());
        assert!(NiftiHeader::parse(&[0u8; 2]).is_err());
    }
}
