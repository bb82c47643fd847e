//! The real CT cases in `../shared/data` load with the right geometry and intensities, land in
//! RAS correctly (liver toward +x of the body) and their label maps align with their CTs.
//! Skipped with a printed reason when `../shared/data` is absent (a user's fresh clone).

use std::path::{Path, PathBuf};

use oncoscope::volume::nifti::{read_ct, read_labels, read_labels_for, write_in_source_grid};
use oncoscope::volume::{CtVolume, LabelVolume};

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

/// Centroid in world mm of the voxels where `select` holds.
fn world_centroid(ct: &CtVolume, select: impl Fn(usize) -> bool) -> [f64; 3] {
    let mut sum = [0.0; 3];
    let mut n = 0usize;
    for i in (0..ct.voxels.len()).filter(|&i| select(i)) {
        let w = ct.grid.world_of_voxel(ct.grid.coords(i).map(|c| c as f64));
        for a in 0..3 {
            sum[a] += w[a];
        }
        n += 1;
    }
    assert!(n > 0, "no voxels selected");
    sum.map(|s| s / n as f64)
}

fn mean_hu(ct: &CtVolume, labels: &LabelVolume, label: u8) -> f64 {
    let (sum, n) = ct
        .voxels
        .iter()
        .zip(&labels.voxels)
        .filter(|(_, l)| **l == label)
        .fold((0.0, 0usize), |(s, n), (h, _)| (s + *h as f64, n + 1));
    sum / n as f64
}

struct Case {
    ct: &'static str,
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    hu: (f32, f32),
}

#[test]
fn every_case_loads_with_its_shape_spacing_and_hu_range() {
    let Some(data) = data_dir() else { return };
    let cases = [
        Case {
            ct: "lits117_crop128/ct.nii.gz",
            dims: [128, 128, 128],
            spacing_mm: [1.0, 1.0, 1.0],
            hu: (-1063.0, 1877.0),
        },
        Case {
            ct: "totalseg_torso_3mm/ct.nii.gz",
            dims: [122, 101, 112],
            spacing_mm: [3.0, 3.0, 3.0],
            hu: (-1207.0, 3382.0),
        },
        Case {
            ct: "totalseg_small_3mm/ct.nii.gz",
            dims: [122, 101, 30],
            spacing_mm: [3.0, 3.0, 3.0],
            hu: (-1100.0, 1207.0),
        },
        Case {
            ct: "totalseg_abdomen_dicom/ct.nii.gz",
            dims: [512, 512, 20],
            spacing_mm: [0.977, 0.977, 2.0],
            hu: (-1024.0, 1839.0),
        },
        Case {
            ct: "totalseg_aorta_crop/ct.nii.gz",
            dims: [120, 126, 164],
            spacing_mm: [1.5, 1.5, 1.5],
            hu: (-1078.0, 3343.0),
        },
    ];
    for case in cases {
        let ct = read_ct(&data.join(case.ct)).unwrap();
        // These files' axes are already axis-aligned, so RAS dims are a permutation at most.
        let mut dims = ct.grid.dims;
        let mut expected = case.dims;
        dims.sort();
        expected.sort();
        assert_eq!(dims, expected, "{}", case.ct);
        let mut spacing = ct.grid.spacing_mm();
        let mut want = case.spacing_mm;
        spacing.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        for a in 0..3 {
            assert!(
                (spacing[a] - want[a]).abs() < 0.01,
                "{} spacing {spacing:?}",
                case.ct
            );
        }
        assert_eq!(ct.hu_range(), case.hu, "{}", case.ct);
        assert_eq!(ct.grid.orientation_code(), "RAS", "{}", case.ct);
    }
}

#[test]
fn liver_lies_toward_plus_x_of_the_body_after_reorientation() {
    let Some(data) = data_dir() else { return };
    // (CT, label map, liver label)
    let cases = [
        (
            "lits117_crop128/ct.nii.gz",
            "lits117_crop128/label.nii.gz",
            1u8,
        ),
        (
            "totalseg_torso_3mm/ct.nii.gz",
            "totalseg_torso_3mm/seg_totalsegmentator_v1.nii.gz",
            5,
        ),
        (
            "totalseg_small_3mm/ct.nii.gz",
            "totalseg_small_3mm/seg_totalsegmentator_v2.nii.gz",
            5,
        ),
        (
            "totalseg_abdomen_dicom/ct.nii.gz",
            "totalseg_abdomen_dicom/seg_totalsegmentator_v2.nii.gz",
            5,
        ),
    ];
    for (ct_name, label_name, liver) in cases {
        let ct = read_ct(&data.join(ct_name)).unwrap();
        let labels = read_labels_for(&data.join(label_name), &ct).unwrap();
        let body = world_centroid(&ct, |i| ct.voxels[i] > -300.0);
        let liver_c = world_centroid(&ct, |i| {
            labels.voxels[i] == liver || (liver == 1 && labels.voxels[i] == 2)
        });
        assert!(
            liver_c[0] > body[0] + 5.0,
            "{ct_name}: liver x {} body x {}",
            liver_c[0],
            body[0]
        );
        // In RAS voxel order the same holds for voxel x indices.
        let mean_x = |select: &dyn Fn(usize) -> bool| {
            let xs: Vec<f64> = (0..ct.voxels.len())
                .filter(|&i| select(i))
                .map(|i| ct.grid.coords(i)[0] as f64)
                .collect();
            xs.iter().sum::<f64>() / xs.len() as f64
        };
        assert!(mean_x(&|i| labels.voxels[i] == liver) > mean_x(&|i| ct.voxels[i] > -300.0));
    }
}

#[test]
fn differently_ordered_ct_and_label_align_voxel_for_voxel() {
    let Some(data) = data_dir() else { return };
    let dir = data.join("totalseg_abdomen_dicom");
    let ct = read_ct(&dir.join("ct.nii.gz")).unwrap();
    let seg_path = dir.join("seg_totalsegmentator_v2.nii.gz");
    let ct_source = ct.source.as_ref().unwrap();
    let seg_alone = read_labels(&seg_path).unwrap();
    let seg_source = seg_alone.source.as_ref().unwrap();
    // The files store their voxels in different orders (LPS vs LAS) ...
    assert_eq!(ct_source.file_orientation_code(), "LPS");
    assert_eq!(seg_source.file_orientation_code(), "LAS");
    assert_ne!(ct_source.ras_from_file, seg_source.ras_from_file);
    // ... and after loading both are in one RAS grid.
    let seg = read_labels_for(&seg_path, &ct).unwrap();
    assert_eq!(seg.voxels, seg_alone.voxels);
    // Aligned: liver (5) holds liver HU and spleen (1) spleen HU. Flipping y would put the
    // label over other tissue; check that the flipped overlay is clearly worse.
    let liver_hu = mean_hu(&ct, &seg, 5);
    assert!(
        (30.0..200.0).contains(&liver_hu),
        "liver mean HU {liver_hu}"
    );
    let [nx, ny, nz] = ct.grid.dims;
    let mut flipped = seg.clone();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                flipped.voxels[ct.grid.index(x, y, z)] = seg.at(x, ny - 1 - y, z);
            }
        }
    }
    let liver_std = |labels: &LabelVolume| {
        let values: Vec<f64> = ct
            .voxels
            .iter()
            .zip(&labels.voxels)
            .filter(|(_, l)| **l == 5)
            .map(|(h, _)| *h as f64)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
    };
    assert!(
        liver_std(&seg) * 2.0 < liver_std(&flipped),
        "aligned {} flipped {}",
        liver_std(&seg),
        liver_std(&flipped)
    );
}

#[test]
fn mismatched_grids_are_refused() {
    let Some(data) = data_dir() else { return };
    let ct = read_ct(&data.join("totalseg_small_3mm/ct.nii.gz")).unwrap();
    let other = data.join("totalseg_torso_3mm/seg_totalsegmentator_v1.nii.gz");
    let err = read_labels_for(&other, &ct).unwrap_err().to_string();
    assert!(
        err.contains("seg_totalsegmentator_v1.nii.gz") && err.contains("does not fit"),
        "{err}"
    );
}

#[test]
fn float64_label_maps_load() {
    let Some(data) = data_dir() else { return };
    let seg = read_labels(&data.join("totalseg_torso_3mm/seg_totalsegmentator_v1.nii.gz")).unwrap();
    let liver = seg
        .label_counts()
        .into_iter()
        .find(|(l, _)| *l == 5)
        .unwrap()
        .1;
    assert_eq!(liver, 41_602);
}

/// Python with nibabel, if present (the bench venv or the system's).
fn python_with_nibabel() -> Option<PathBuf> {
    std::env::var_os("ONCOSCOPE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/opt/bench-venv/bin/python", "python3"].map(PathBuf::from))
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import nibabel"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn written_segmentation_has_the_cts_affine_for_nibabel() {
    let Some(data) = data_dir() else { return };
    let Some(python) = python_with_nibabel() else {
        eprintln!("skipped: no Python with nibabel (install ../shared/bench/requirements.txt)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for case in [
        "totalseg_abdomen_dicom",
        "lits117_crop128",
        "totalseg_aorta_crop",
    ] {
        let ct_path = data.join(case).join("ct.nii.gz");
        let ct = read_ct(&ct_path).unwrap();
        let seg: Vec<u8> = ct.voxels.iter().map(|&h| u8::from(h > 100.0)).collect();
        let seg = ct.with_voxels(seg).unwrap();
        let out = dir.path().join(format!("{case}_seg.nii.gz"));
        write_in_source_grid(&out, &seg).unwrap();
        let script = "import sys, nibabel as nib, numpy as np\n\
            ct = nib.load(sys.argv[1]); seg = nib.load(sys.argv[2])\n\
            assert seg.shape == ct.shape[:3], (seg.shape, ct.shape)\n\
            assert np.allclose(seg.affine, ct.affine, atol=1e-4), (seg.affine, ct.affine)\n\
            assert nib.aff2axcodes(seg.affine) == nib.aff2axcodes(ct.affine)\n\
            expect = (np.asarray(ct.dataobj) > 100).astype(np.uint8)\n\
            assert (np.asarray(seg.dataobj) == expect).all()\n\
            print('ok', nib.aff2axcodes(seg.affine))";
        let o = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&ct_path)
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        eprintln!("{case}: {}", String::from_utf8_lossy(&o.stdout).trim());
    }
}
