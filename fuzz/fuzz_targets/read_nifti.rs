//! Fuzz target: the NIfTI reader must never panic, hang or over-allocate on any input bytes,
//! raw or gzip-compressed, as a CT or as a label map.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oncoscope::volume::nifti::{read_ct_bytes, read_labels_bytes};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.nii");
    let _ = read_ct_bytes(path, data.to_vec());
    let _ = read_labels_bytes(path, data.to_vec());
});
