//! NIfTI voxel data types and the conversion of raw voxel bytes to numbers.

use rayon::prelude::*;

/// The voxel data types we read (NIfTI `datatype` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DataType {
    /// The type for a NIfTI `datatype` code, or a description of why it is not supported.
    pub fn from_code(code: i64) -> Result<Self, String> {
        Ok(match code {
            2 => Self::U8,
            256 => Self::I8,
            4 => Self::I16,
            512 => Self::U16,
            8 => Self::I32,
            768 => Self::U32,
            1024 => Self::I64,
            1280 => Self::U64,
            16 => Self::F32,
            64 => Self::F64,
            1 => return Err("1-bit (binary) voxels are not supported".into()),
            32 | 1792 | 2048 => return Err("complex-valued voxels are not supported".into()),
            128 | 2304 => return Err("RGB(A) colour voxels are not supported for CT".into()),
            1536 => return Err("128-bit float voxels are not supported".into()),
            other => return Err(format!("unknown NIfTI datatype code {other}")),
        })
    }

    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            Self::U8 => 2,
            Self::I8 => 256,
            Self::I16 => 4,
            Self::U16 => 512,
            Self::I32 => 8,
            Self::U32 => 768,
            Self::I64 => 1024,
            Self::U64 => 1280,
            Self::F32 => 16,
            Self::F64 => 64,
        }
    }

    /// Bytes per voxel.
    pub fn size_bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// Whether voxels are floating point (and so may hold NaN or fractions).
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// Lower-case name, as printed by `oncoscope info`.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::U16 => "uint16",
            Self::I32 => "int32",
            Self::U32 => "uint32",
            Self::I64 => "int64",
            Self::U64 => "uint64",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }
}

/// Linear intensity scaling `value * slope + inter`, as the header's `scl_slope`/`scl_inter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    pub slope: f64,
    pub inter: f64,
}

impl Scaling {
    /// The scaling a header asks for: a NaN, infinite or zero slope means "no scaling"
    /// (the NIfTI-1 rule), and a non-finite intercept is then ignored too.
    pub fn from_header(slope: f64, inter: f64) -> Self {
        if slope.is_finite() && slope != 0.0 {
            Self {
                slope,
                inter: if inter.is_finite() { inter } else { 0.0 },
            }
        } else {
            Self::IDENTITY
        }
    }

    pub const IDENTITY: Scaling = Scaling {
        slope: 1.0,
        inter: 0.0,
    };

    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }
}

/// Decodes raw voxel bytes (file order, given endianness) into scaled values, in parallel
/// chunks. The scaling is computed in `f64` and rounded once to `f32`.
pub fn decode_to_f32(
    raw: &[u8],
    data_type: DataType,
    big_endian: bool,
    scaling: Scaling,
    out: &mut [f32],
) {
    const CHUNK: usize = 1 << 16;
    let size = data_type.size_bytes();
    debug_assert_eq!(raw.len(), out.len() * size);
    out.par_chunks_mut(CHUNK)
        .zip(raw.par_chunks(CHUNK * size))
        .for_each(|(dst, src)| decode_into(src, data_type, big_endian, scaling, dst));
}

macro_rules! decode_as {
    ($src:expr, $dst:expr, $ty:ty, $big:expr, $scale:expr) => {{
        const N: usize = std::mem::size_of::<$ty>();
        let (slope, inter) = ($scale.slope, $scale.inter);
        let identity = $scale.is_identity();
        for (d, bytes) in $dst.iter_mut().zip($src.chunks_exact(N)) {
            let mut arr = [0u8; N];
            arr.copy_from_slice(bytes);
            let v = if $big {
                <$ty>::from_be_bytes(arr)
            } else {
                <$ty>::from_le_bytes(arr)
            };
            *d = if identity {
                v as f32
            } else {
                (v as f64 * slope + inter) as f32
            };
        }
    }};
}

/// Decodes `dst.len()` voxels from `src` on the calling thread.
pub fn decode_into(src: &[u8], t: DataType, big: bool, s: Scaling, dst: &mut [f32]) {
    match t {
        DataType::U8 => decode_as!(src, dst, u8, big, s),
        DataType::I8 => decode_as!(src, dst, i8, big, s),
        DataType::I16 => decode_as!(src, dst, i16, big, s),
        DataType::U16 => decode_as!(src, dst, u16, big, s),
        DataType::I32 => decode_as!(src, dst, i32, big, s),
        DataType::U32 => decode_as!(src, dst, u32, big, s),
        DataType::I64 => decode_as!(src, dst, i64, big, s),
        DataType::U64 => decode_as!(src, dst, u64, big, s),
        DataType::F32 => decode_as!(src, dst, f32, big, s),
        DataType::F64 => decode_as!(src, dst, f64, big, s),
    }
}

/// A voxel type that can be written to NIfTI.
pub trait NiftiScalar: Copy + Send + Sync + 'static {
    const DATA_TYPE: DataType;
    /// Appends the little-endian bytes of `self`.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! scalar {
    ($ty:ty, $dt:expr) => {
        impl NiftiScalar for $ty {
            const DATA_TYPE: DataType = $dt;
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
scalar!(u8, DataType::U8);
scalar!(i8, DataType::I8);
scalar!(i16, DataType::I16);
scalar!(u16, DataType::U16);
scalar!(i32, DataType::I32);
scalar!(u32, DataType::U32);
scalar!(f32, DataType::F32);
scalar!(f64, DataType::F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_or_zero_slope_means_no_scaling() {
        assert!(Scaling::from_header(f64::NAN, 5.0).is_identity());
        assert!(Scaling::from_header(0.0, -1024.0).is_identity());
        let s = Scaling::from_header(2.0, -1024.0);
        assert_eq!((s.slope, s.inter), (2.0, -1024.0));
    }

    #[test]
    fn decodes_both_endiannesses_with_scaling() {
        let values: [i16; 3] = [-1, 300, 32767];
        let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let be: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let s = Scaling::from_header(2.0, -1024.0);
        let mut a = [0.0f32; 3];
        let mut b = [0.0f32; 3];
        decode_to_f32(&le, DataType::I16, false, s, &mut a);
        decode_to_f32(&be, DataType::I16, true, s, &mut b);
        assert_eq!(a, [-1026.0, -424.0, 64510.0]);
        assert_eq!(a, b);
    }
}
