//! Synthetic phantoms and Decathlon datasets: determinism, plausible anatomy and intensities,
//! lesions, orientation, files written and read back, and broken dataset folders.

use std::path::Path;

use oncoscope::volume::decathlon::{DatasetWriter, Task, read_dataset};
use oncoscope::volume::nifti::{read_ct, read_labels};
use oncoscope::volume::phantom::{
    ContrastPhase, LESION_DIAMETER_RANGE_MM, LesionKind, LesionLook, PancreasBuild, PhantomCase,
    PhantomOptions, ScanRange, case_seed, generate_case,
};
use oncoscope::volume::{AxisMap, CtVolume, LabelVolume};

fn small(task: Task, seed: u64) -> PhantomCase {
    generate_case(task, seed, &PhantomOptions::small()).unwrap()
}

/// Small case with fixed choices.
fn small_with(task: Task, seed: u64, edit: impl FnOnce(&mut PhantomOptions)) -> PhantomCase {
    let mut options = PhantomOptions::small();
    edit(&mut options);
    generate_case(task, seed, &options).unwrap()
}

/// Mean HU of the voxels whose label is `label` and whose 6 neighbours all share it (so that
/// partial-volume edges do not dilute organ means).
fn interior_mean(ct: &CtVolume, labels: &LabelVolume, label: u8) -> Option<f64> {
    let [nx, ny, nz] = labels.grid.dims;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for z in 1..nz - 1 {
        for y in 1..ny - 1 {
            for x in 1..nx - 1 {
                let i = labels.grid.index(x, y, z);
                if labels.voxels[i] != label {
                    continue;
                }
                let neighbours = [i - 1, i + 1, i - nx, i + nx, i - nx * ny, i + nx * ny];
                if neighbours.iter().all(|&j| labels.voxels[j] == label) {
                    sum += ct.voxels[i] as f64;
                    n += 1;
                }
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Mean HU of all voxels labelled `label`.
fn mean_of(ct: &CtVolume, labels: &LabelVolume, label: u8) -> Option<f64> {
    let values: Vec<f64> = ct
        .voxels
        .iter()
        .zip(&labels.voxels)
        .filter(|&(_, &l)| l == label)
        .map(|(&v, _)| v as f64)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// World (RAS mm) centroid of the voxels for which `keep` holds.
fn world_centroid(ct: &CtVolume, keep: impl Fn(usize) -> bool) -> [f64; 3] {
    let mut sum = [0.0f64; 3];
    let mut n = 0.0;
    for i in 0..ct.voxels.len() {
        if keep(i) {
            let [x, y, z] = ct.grid.coords(i);
            let w = ct.grid.world_of_voxel([x as f64, y as f64, z as f64]);
            for a in 0..3 {
                sum[a] += w[a];
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n)
}

/// Connected components (6-neighbourhood) of `label`: voxel lists.
fn components(labels: &LabelVolume, label: u8) -> Vec<Vec<usize>> {
    let [nx, ny, nz] = labels.grid.dims;
    let mut seen = vec![false; labels.voxels.len()];
    let mut out = Vec::new();
    for start in 0..labels.voxels.len() {
        if seen[start] || labels.voxels[start] != label {
            continue;
        }
        let mut stack = vec![start];
        seen[start] = true;
        let mut members = Vec::new();
        while let Some(i) = stack.pop() {
            members.push(i);
            let [x, y, z] = labels.grid.coords(i);
            let mut visit = |j: usize| {
                if !seen[j] && labels.voxels[j] == label {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < nx {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - nx);
            }
            if y + 1 < ny {
                visit(i + nx);
            }
            if z > 0 {
                visit(i - nx * ny);
            }
            if z + 1 < nz {
                visit(i + nx * ny);
            }
        }
        out.push(members);
    }
    out
}

#[test]
fn same_seed_gives_identical_volumes_on_any_thread_count() {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| small(Task::Liver, 42));
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| small(Task::Liver, 42));
    assert_eq!(one.ct.grid, three.ct.grid);
    let same_bits = one
        .ct
        .voxels
        .iter()
        .zip(&three.ct.voxels)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same_bits, "HU differ between 1 and 3 threads");
    assert_eq!(one.labels.voxels, three.labels.voxels);
    assert_eq!(one.file_order, three.file_order);
    assert_eq!(one.lesions, three.lesions);
    assert_eq!(one.phase, three.phase);
}

#[test]
fn different_seeds_give_different_cases() {
    let a = small(Task::Liver, 1);
    let b = small(Task::Liver, 2);
    let differs = a.ct.grid.dims != b.ct.grid.dims || a.ct.voxels != b.ct.voxels;
    assert!(differs);
    // Seeds of a dataset's cases are distinct and reproducible.
    let seeds: Vec<u64> = (0..100).map(|i| case_seed(7, i)).collect();
    let mut unique = seeds.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seeds.len());
    assert_eq!(case_seed(7, 3), seeds[3]);
    assert_ne!(case_seed(8, 3), seeds[3]);
}

#[test]
fn volumes_look_like_ct() {
    let case = small(Task::Liver, 3);
    let (lo, hi) = case.ct.hu_range();
    assert!(lo >= -1024.0 && hi <= 3071.0);
    assert!(
        case.ct.voxels.iter().all(|v| v.fract() == 0.0),
        "HU must be integers"
    );
    // Corners are air; bone is there; the body is a large part of the volume.
    assert!(case.ct.voxels[0] < -900.0);
    assert!(hi > 500.0, "no bone: max {hi}");
    let body = case.ct.voxels.iter().filter(|&&v| v > -300.0).count();
    let fraction = body as f64 / case.ct.voxels.len() as f64;
    assert!((0.2..0.85).contains(&fraction), "body fraction {fraction}");
    // Some gas inside the body (bowel, stomach or lung) and fat.
    let fat = case
        .ct
        .voxels
        .iter()
        .filter(|&&v| (-150.0..=-50.0).contains(&v))
        .count();
    assert!(fat > body / 10);
    // Edges are not binary: many voxels between fat and soft tissue.
    let between = case
        .ct
        .voxels
        .iter()
        .filter(|&&v| (-40.0..=0.0).contains(&v))
        .count();
    assert!(between > case.ct.voxels.len() / 200, "{between}");
}

#[test]
fn about_41_percent_of_the_body_is_fat_like_real_scans() {
    let mut fractions = Vec::new();
    for seed in 10..16 {
        let case = small(Task::Pancreas, seed);
        let body: Vec<f32> = case
            .ct
            .voxels
            .iter()
            .copied()
            .filter(|&v| v > -300.0)
            .collect();
        let fat = body
            .iter()
            .filter(|&&v| (-150.0..=-50.0).contains(&v))
            .count();
        fractions.push(fat as f64 / body.len() as f64);
    }
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    assert!(
        (0.3..0.55).contains(&mean),
        "mean fat fraction {mean}: {fractions:?}"
    );
    assert!(
        fractions.iter().all(|f| (0.15..0.7).contains(f)),
        "{fractions:?}"
    );
}

#[test]
fn organ_and_tumour_intensities_are_plausible_in_every_phase() {
    for (i, phase) in ContrastPhase::ALL.into_iter().enumerate() {
        for task in Task::ALL {
            let case = small_with(task, 20 + i as u64, |o| {
                o.phase = Some(phase);
                o.lesion_count = Some(2);
                // Finer voxels than `small` so tumour interiors exist.
                o.voxels_per_axis = Some((110, 120));
            });
            assert_eq!(case.phase, phase);
            let (lo, hi) = match task {
                Task::Liver => phase.liver_hu_range(),
                Task::Pancreas => phase.pancreas_hu_range(),
            };
            assert!((lo..=hi).contains(&case.organ_hu));
            let organ = interior_mean(&case.ct, &case.labels, 1)
                .or_else(|| mean_of(&case.ct, &case.labels, 1))
                .unwrap();
            // Texture, noise and vessels move the mean a little from the drawn value.
            assert!(
                (lo as f64 - 15.0..=hi as f64 + 10.0).contains(&organ),
                "{task} {phase:?}: organ mean {organ:.1} outside {lo}..{hi}"
            );
            // Lesions under ~1 cm are mostly margin (a rim-enhancing one is nearly iso-dense);
            // only cases with a larger lesion must show clearly darker tumour.
            let large = case.lesions.iter().any(|l| l.diameter_mm >= 10.0);
            let margin = if large { 8.0 } else { -10.0 };
            if let Some(tumour) = mean_of(&case.ct, &case.labels, 2) {
                assert!(
                    tumour < organ - margin,
                    "{task} {phase:?}: tumour {tumour:.1} not darker than organ {organ:.1}: {:?}",
                    case.lesions
                );
            }
        }
    }
    // Contrast brightens the liver by 50–80 HU.
    let nc = small_with(Task::Liver, 30, |o| {
        o.phase = Some(ContrastPhase::NonContrast)
    });
    let pv = small_with(Task::Liver, 30, |o| {
        o.phase = Some(ContrastPhase::PortalVenous)
    });
    let gain = mean_of(&pv.ct, &pv.labels, 1).unwrap() - mean_of(&nc.ct, &nc.labels, 1).unwrap();
    assert!((35.0..=105.0).contains(&gain), "contrast gain {gain:.1} HU");
}

#[test]
fn lesion_counts_vary_and_some_cases_have_none() {
    let options = PhantomOptions {
        voxels_per_axis: Some((40, 48)),
        ..PhantomOptions::small()
    };
    let counts: Vec<usize> = (0..14)
        .map(|seed| {
            generate_case(Task::Liver, seed, &options)
                .unwrap()
                .lesions
                .len()
        })
        .collect();
    assert!(counts.contains(&0), "{counts:?}");
    assert!(counts.iter().any(|&c| c >= 2), "{counts:?}");
    assert!(counts.iter().all(|&c| c <= 5), "{counts:?}");
    // Tumour-free cases have no tumour voxels; forced counts are honoured.
    let none = small_with(Task::Liver, 3, |o| o.lesion_count = Some(0));
    assert!(none.lesions.is_empty() && !none.has_tumour());
    let four = small_with(Task::Liver, 3, |o| o.lesion_count = Some(4));
    assert_eq!(four.lesions.len(), 4);
}

#[test]
fn lesions_have_5_to_50_mm_diameters_and_their_voxels_fit_them() {
    let (lo, hi) = LESION_DIAMETER_RANGE_MM;
    for task in Task::ALL {
        for seed in 0..3 {
            let case = small_with(task, 40 + seed, |o| {
                o.lesion_count = Some(3);
                o.voxels_per_axis = Some((100, 110));
            });
            let spacing = case.ct.grid.spacing_mm();
            let max_spacing = spacing.iter().copied().fold(0.0, f64::max);
            for lesion in &case.lesions {
                assert!(
                    (lo..=hi).contains(&lesion.diameter_mm),
                    "{task}: diameter {}",
                    lesion.diameter_mm
                );
                assert!((20.0..=60.0).contains(&lesion.contrast_hu));
                // Lesions clearly larger than a voxel are visible in the labels.
                if lesion.diameter_mm > 3.0 * max_spacing {
                    assert!(lesion.voxel_count > 0, "{task}: {lesion:?}");
                }
            }
            // Every tumour voxel lies within its lesion's nominal sphere.
            for component in components(&case.labels, 2) {
                let i = component[0];
                let [x, y, z] = case.labels.grid.coords(i);
                let w = case
                    .labels
                    .grid
                    .world_of_voxel([x as f64, y as f64, z as f64]);
                let owner = case
                    .lesions
                    .iter()
                    .min_by(|a, b| {
                        let d = |l: &&oncoscope::volume::phantom::LesionInfo| {
                            (0..3).map(|k| (w[k] - l.center_mm[k]).powi(2)).sum::<f64>()
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .expect("tumour voxels without lesions");
                for &j in &component {
                    let [x, y, z] = case.labels.grid.coords(j);
                    let w = case
                        .labels
                        .grid
                        .world_of_voxel([x as f64, y as f64, z as f64]);
                    let r = (0..3)
                        .map(|k| (w[k] - owner.center_mm[k]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    assert!(
                        r <= owner.diameter_mm / 2.0 + 0.01,
                        "{task}: tumour voxel {r:.1} mm from a {:.1} mm lesion's centre",
                        owner.diameter_mm
                    );
                }
            }
            // Tumour voxels are always inside the labelled organ region: each tumour
            // component touches organ voxels or fills the organ there.
            let total: usize = case.lesions.iter().map(|l| l.voxel_count).sum();
            let labelled = case.labels.voxels.iter().filter(|&&l| l == 2).count();
            assert_eq!(total, labelled);
        }
    }
}

#[test]
fn liver_lies_toward_the_patients_right_and_pancreas_is_small() {
    for seed in 0..3 {
        let case = small(Task::Liver, 60 + seed);
        let body = world_centroid(&case.ct, |i| case.ct.voxels[i] > -300.0);
        let liver = world_centroid(&case.ct, |i| case.labels.voxels[i] >= 1);
        assert!(
            liver[0] > body[0] + 20.0,
            "seed {seed}: liver x {:.1} not right of body x {:.1}",
            liver[0],
            body[0]
        );
        let ml = case.organ_volume_ml();
        assert!((900.0..2100.0).contains(&ml), "liver {ml:.0} mL");
    }
    let case = small_with(Task::Pancreas, 70, |o| o.lesion_count = Some(0));
    let ml = case.organ_volume_ml();
    assert!((35.0..130.0).contains(&ml), "pancreas {ml:.0} mL");
    // The pancreas lies in front of the spine, near the midline (within 120 mm).
    let body = world_centroid(&case.ct, |i| case.ct.voxels[i] > -300.0);
    let pancreas = world_centroid(&case.ct, |i| case.labels.voxels[i] >= 1);
    assert!((pancreas[0] - body[0]).abs() < 60.0);
}

#[test]
fn spacing_shape_and_options_are_honoured() {
    let case = small_with(Task::Pancreas, 80, |o| {
        o.voxels_per_axis = None;
        o.spacing_mm = Some([5.0, 5.0, 6.0]);
    });
    let s = case.ct.grid.spacing_mm();
    assert!((s[0] - 5.0).abs() < 1e-6 && (s[2] - 6.0).abs() < 1e-6);
    assert_eq!(case.ct.grid.orientation_code(), "RAS");
    let case = small_with(Task::Pancreas, 80, |o| {
        o.voxels_per_axis = None;
        o.shape = Some([50, 40, 30]);
        o.random_file_order = false;
    });
    assert_eq!(case.ct.grid.dims, [50, 40, 30]);
    assert!(case.file_order.is_identity());
    // Clinical defaults: 512 × 512 slices, 0.6–1.0 mm in-plane, 1–5 mm slices.
    let clinical = generate_case(
        Task::Liver,
        81,
        &PhantomOptions {
            // Keep the test fast: one fixed coarse slice spacing.
            slice_spacing_range_mm: (5.0, 5.0),
            ..PhantomOptions::default()
        },
    )
    .unwrap();
    let [nx, ny, _] = clinical.ct.grid.dims;
    let s = clinical.ct.grid.spacing_mm();
    assert_eq!((nx, ny), (512, 512));
    assert!((0.6..=1.0 + 1e-9).contains(&s[0]) && (s[2] - 5.0).abs() < 1e-9);
}

#[test]
fn a_written_case_reads_back_as_the_same_ras_volume() {
    let dir = tempfile::tempdir().unwrap();
    let case = small(Task::Liver, 90);
    // The drawn order and a fully permuted one.
    let orders = [
        case.file_order,
        AxisMap {
            source_axis: [2, 0, 1],
            flip: [true, false, true],
        },
    ];
    for (k, order) in orders.into_iter().enumerate() {
        let mut writer = DatasetWriter::create(dir.path(), Task::Liver, "t", "d").unwrap();
        let id = format!("case_{k}");
        let files = writer.add_case(&id, &case.ct, &case.labels, order).unwrap();
        let ct = read_ct(&dir.path().join(&files.image)).unwrap();
        let labels = read_labels(&dir.path().join(&files.label)).unwrap();
        assert_eq!(ct.grid.dims, case.ct.grid.dims);
        let diff = (ct.grid.world_from_voxel - case.ct.grid.world_from_voxel)
            .abs()
            .max();
        assert!(diff < 1e-3, "affine differs by {diff}");
        assert_eq!(ct.voxels, case.ct.voxels);
        assert_eq!(labels.voxels, case.labels.voxels);
        let source = ct.source.as_ref().unwrap();
        assert_eq!(source.ras_from_file, order.inverse());
    }
}

#[test]
fn file_orders_vary_between_cases() {
    let options = PhantomOptions {
        voxels_per_axis: Some((24, 28)),
        ..PhantomOptions::small()
    };
    let codes: std::collections::BTreeSet<[bool; 3]> = (0..12)
        .map(|seed| {
            generate_case(Task::Pancreas, seed, &options)
                .unwrap()
                .file_order
                .flip
        })
        .collect();
    assert!(codes.len() >= 3, "{codes:?}");
}

fn write_dataset(root: &Path, n: u64) {
    let mut writer = DatasetWriter::create(root, Task::Pancreas, "Task07_test", "test").unwrap();
    let options = PhantomOptions {
        voxels_per_axis: Some((24, 28)),
        ..PhantomOptions::small()
    };
    for seed in 0..n {
        let case = generate_case(Task::Pancreas, seed, &options).unwrap();
        writer
            .add_case(
                &format!("pancreas_{seed}"),
                &case.ct,
                &case.labels,
                case.file_order,
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn decathlon_writer_and_reader_agree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Task07_Pancreas_synthetic");
    write_dataset(&root, 3);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(json["numTraining"], 3);
    assert_eq!(json["labels"]["1"], "pancreas");
    assert_eq!(json["labels"]["2"], "cancer");
    assert_eq!(json["modality"]["0"], "CT");
    assert_eq!(json["training"][0]["image"], "./imagesTr/pancreas_0.nii.gz");
    assert!(json["licence"].as_str().unwrap().contains("synthetic"));

    let ds = read_dataset(&root).unwrap();
    assert_eq!(ds.task(), Some(Task::Pancreas));
    let ids: Vec<&str> = ds.training.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["pancreas_0", "pancreas_1", "pancreas_2"]);
    for case in &ds.training {
        assert_eq!(case.image.file_name(), case.label.file_name());
        let ct = read_ct(&case.image).unwrap();
        let labels = read_labels(&case.label).unwrap();
        assert_eq!(ct.grid.dims, labels.grid.dims);
    }
    // Without dataset.json the folders are paired by name, ignoring hidden files.
    std::fs::remove_file(root.join("dataset.json")).unwrap();
    std::fs::write(root.join("imagesTr/._pancreas_0.nii.gz"), b"resource fork").unwrap();
    let paired = read_dataset(&root).unwrap();
    assert_eq!(paired.training, ds.training);
    assert_eq!(paired.task(), None);
}

fn error_of(root: &Path) -> String {
    read_dataset(root).unwrap_err().to_string()
}

#[test]
fn broken_dataset_folders_are_refused_with_the_culprit_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    write_dataset(&root, 2);

    // A label listed in dataset.json is missing.
    let label = root.join("labelsTr/pancreas_1.nii.gz");
    let kept = std::fs::read(&label).unwrap();
    std::fs::remove_file(&label).unwrap();
    let e = error_of(&root);
    assert!(
        e.contains("pancreas_1.nii.gz") && e.contains("missing"),
        "{e}"
    );
    // Without dataset.json: the unpaired image is reported with the label it lacks.
    std::fs::rename(root.join("dataset.json"), root.join("dataset.json.bak")).unwrap();
    let e = error_of(&root);
    assert!(
        e.contains("labelsTr") && e.contains("pancreas_1.nii.gz"),
        "{e}"
    );
    std::fs::write(&label, &kept).unwrap();
    // A label without an image.
    std::fs::write(root.join("labelsTr/stray.nii.gz"), &kept).unwrap();
    let e = error_of(&root);
    assert!(e.contains("stray.nii.gz"), "{e}");
    std::fs::remove_file(root.join("labelsTr/stray.nii.gz")).unwrap();
    assert_eq!(read_dataset(&root).unwrap().training.len(), 2);

    // No imagesTr at all.
    std::fs::rename(root.join("imagesTr"), root.join("images")).unwrap();
    let e = error_of(&root);
    assert!(e.contains("imagesTr") && e.contains("ds"), "{e}");
    std::fs::rename(root.join("images"), root.join("imagesTr")).unwrap();

    // A malformed dataset.json.
    std::fs::write(
        root.join("dataset.json"),
        "{\"training\": [{\"image\": 3}]}",
    )
    .unwrap();
    let e = error_of(&root);
    assert!(
        e.contains("dataset.json") && e.contains("not a valid"),
        "{e}"
    );

    // Not a folder at all.
    let e = error_of(&root.join("nothing_here"));
    assert!(e.contains("nothing_here"), "{e}");
}

#[test]
fn case_ids_must_be_plain_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    let case = generate_case(
        Task::Liver,
        1,
        &PhantomOptions {
            voxels_per_axis: Some((20, 22)),
            ..PhantomOptions::small()
        },
    )
    .unwrap();
    let mut writer = DatasetWriter::create(dir.path(), Task::Liver, "t", "d").unwrap();
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(
            writer
                .add_case(bad, &case.ct, &case.labels, AxisMap::IDENTITY)
                .is_err()
        );
    }
    writer
        .add_case("ok_1", &case.ct, &case.labels, AxisMap::IDENTITY)
        .unwrap();
    assert!(
        writer
            .add_case("ok_1", &case.ct, &case.labels, AxisMap::IDENTITY)
            .is_err()
    );
}

/// Ellipsoid volume (in voxels of `case`'s grid) of a lesion as reported.
fn ellipsoid_voxels(case: &PhantomCase, radii_mm: [f64; 3]) -> f64 {
    let ml = 4.0 / 3.0 * std::f64::consts::PI * radii_mm.iter().product::<f64>() / 1000.0;
    ml / case.labels.grid.voxel_volume_ml()
}

/// Checks that every lesion of at least `min_ml` nominal volume is mostly labelled tumour: it
/// lies (almost) wholly in the organ rather than mostly outside it.
fn assert_lesions_mostly_labelled(case: &PhantomCase, min_ml: f64, min_fraction: f64) {
    for lesion in &case.lesions {
        let ml =
            4.0 / 3.0 * std::f64::consts::PI * lesion.radii_mm.iter().product::<f64>() / 1000.0;
        if ml < min_ml {
            continue;
        }
        let expected = ellipsoid_voxels(case, lesion.radii_mm);
        let fraction = lesion.voxel_count as f64 / expected;
        assert!(
            fraction >= min_fraction,
            "{} seed {}: a {:.1} mm lesion ({ml:.2} mL nominal) has {} tumour voxels, {:.0} % of \
             its {expected:.0}-voxel ellipsoid: {lesion:?}",
            case.task,
            case.seed,
            lesion.diameter_mm,
            lesion.voxel_count,
            fraction * 100.0
        );
    }
}

#[test]
fn lesions_lie_inside_their_organ_and_are_labelled_nearly_whole() {
    // The bundled sample's case once had a "27 mm" lesion that was a 1 mL sliver at the
    // liver's edge.
    let options = PhantomOptions {
        shape: Some([160, 160, 64]),
        ..PhantomOptions::default()
    };
    let sample = generate_case(Task::Liver, case_seed(9, 0), &options).unwrap();
    assert_lesions_mostly_labelled(&sample, 1.0, 0.6);
    for task in Task::ALL {
        for seed in 0..10 {
            let case = small_with(task, case_seed(77, seed), |o| {
                o.lesion_count = Some(3);
            });
            assert_lesions_mostly_labelled(&case, 1.0, 0.6);
        }
    }
}

/// Mean HU over the tumour voxels lying within the nominal sphere of a lesion of `diameter_mm`
/// centred at `center_mm` (RAS world), with their count.
fn lesion_mean_hu(case: &PhantomCase, center_mm: [f64; 3], diameter_mm: f64) -> (f64, usize) {
    let grid = &case.labels.grid;
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, &label) in case.labels.voxels.iter().enumerate() {
        if label != 2 {
            continue;
        }
        let [x, y, z] = grid.coords(i);
        let w = grid.world_of_voxel([x as f64, y as f64, z as f64]);
        let d2: f64 = (0..3).map(|a| (w[a] - center_mm[a]).powi(2)).sum();
        if d2.sqrt() <= diameter_mm * 0.5 + 0.5 {
            sum += case.ct.voxels[i] as f64;
            n += 1;
        }
    }
    (sum / n.max(1) as f64, n)
}

#[test]
fn crisp_lesions_keep_their_labels_and_small_ones_show_darker() {
    let options = |look| PhantomOptions {
        lesion_count: Some(5),
        // About 2.3 mm voxels, so sub-centimetre lesions cover a few voxels.
        voxels_per_axis: Some((150, 156)),
        lesion_look: look,
        ..PhantomOptions::small()
    };
    let (mut small_gain, mut small_voxels) = (0.0, 0usize);
    for seed in [11, 12] {
        let soft = generate_case(Task::Liver, seed, &options(LesionLook::Soft)).unwrap();
        let crisp = generate_case(Task::Liver, seed, &options(LesionLook::Crisp)).unwrap();
        // Only the look changes: same lesions, places, sizes, contrast and labels.
        assert_eq!(soft.labels.voxels, crisp.labels.voxels, "seed {seed}");
        assert_eq!(soft.lesions.len(), crisp.lesions.len());
        for (s, c) in soft.lesions.iter().zip(&crisp.lesions) {
            assert_eq!(
                (s.center_mm, s.diameter_mm, s.contrast_hu),
                (c.center_mm, c.diameter_mm, c.contrast_hu)
            );
            // No enhancing rim on a crisp lesion under 15 mm.
            if c.diameter_mm < 15.0 {
                assert_ne!(c.kind, LesionKind::RimEnhancing, "{c:?}");
                let (soft_hu, n) = lesion_mean_hu(&soft, s.center_mm, s.diameter_mm);
                let (crisp_hu, _) = lesion_mean_hu(&crisp, c.center_mm, c.diameter_mm);
                // Voxel-weighted: the gain of every small lesion's voxels.
                small_gain += (soft_hu - crisp_hu) * n as f64;
                small_voxels += n;
            }
        }
    }
    assert!(
        small_voxels >= 10,
        "too few small-lesion voxels: {small_voxels}"
    );
    let gain = small_gain / small_voxels as f64;
    // Less margin blur and no rim: small lesions' voxels darker on average (1.1 HU over these
    // seeds' small lesions; exactly 0 if the look changed nothing).
    assert!(gain >= 0.5, "crisp small lesions only {gain:.2} HU darker");
}

/// World z (mm) of the lowest and highest slice centres.
fn z_extent_mm(case: &PhantomCase) -> (f64, f64) {
    let g = &case.ct.grid;
    let a = g.world_of_voxel([0.0, 0.0, 0.0]).z;
    let b = g.world_of_voxel([0.0, 0.0, (g.dims[2] - 1) as f64]).z;
    (a.min(b), a.max(b))
}

/// Width (mm, along x) spanned by bone (> 350 HU) in axial slice `z` of a RAS case.
fn bone_span_mm(case: &PhantomCase, z: usize) -> f64 {
    let g = &case.ct.grid;
    let [nx, ny, _] = g.dims;
    let xs: Vec<usize> = (0..ny)
        .flat_map(|y| (0..nx).map(move |x| (x, y)))
        .filter(|&(x, y)| case.ct.voxels[g.index(x, y, z)] > 350.0)
        .map(|(x, _)| x)
        .collect();
    match (xs.iter().min(), xs.iter().max()) {
        (Some(lo), Some(hi)) => (hi - lo) as f64 * g.spacing_mm()[0],
        _ => 0.0,
    }
}

#[test]
fn scans_reach_the_pelvis_or_start_inside_the_liver_when_asked() {
    let coarse = PhantomOptions {
        spacing_mm: Some([4.0, 4.0, 4.0]),
        random_file_order: false,
        ..PhantomOptions::default()
    };
    for seed in [3, 4] {
        let abdomen = generate_case(Task::Liver, seed, &coarse).unwrap();
        let options = PhantomOptions {
            scan_range: ScanRange::AbdomenPelvis,
            ..coarse.clone()
        };
        let pelvis = generate_case(Task::Liver, seed, &options).unwrap();
        // The same abdomen and lesions, with a pelvis below.
        assert_eq!(abdomen.lesions.len(), pelvis.lesions.len());
        for (a, p) in abdomen.lesions.iter().zip(&pelvis.lesions) {
            assert_eq!(a.diameter_mm, p.diameter_mm);
        }
        let (liver_a, liver_p) = (abdomen.organ_volume_ml(), pelvis.organ_volume_ml());
        assert!(
            (liver_a - liver_p).abs() < 0.03 * liver_a,
            "seed {seed}: liver {liver_a:.0} mL without the pelvis, {liver_p:.0} mL with it"
        );
        let (bottom_a, top_a) = z_extent_mm(&abdomen);
        let (bottom_p, top_p) = z_extent_mm(&pelvis);
        assert!(
            bottom_p < bottom_a - 100.0 && (top_p - top_a).abs() < 8.0,
            "seed {seed}: abdomen {bottom_a:.0}..{top_a:.0} mm, pelvis {bottom_p:.0}..{top_p:.0} mm"
        );
        // Below the abdomen's scan, bone spans the pelvis (wings, hips), not just the spine
        // (at most about 90 mm across its transverse processes).
        let below: Vec<usize> = (0..pelvis.ct.grid.dims[2])
            .filter(|&z| pelvis.ct.grid.world_of_voxel([0.0, 0.0, z as f64]).z < bottom_a - 20.0)
            .collect();
        let wide = below
            .iter()
            .filter(|&&z| bone_span_mm(&pelvis, z) >= 150.0)
            .count();
        assert!(
            wide * 10 >= below.len() * 6,
            "seed {seed}: bone spans 150 mm in {wide} of {} pelvic slices",
            below.len()
        );
    }
    // `Mixed`: some scans reach the pelvis, some start inside the liver; the default never
    // cuts the liver.
    let liver_in_top_slice = |case: &PhantomCase| {
        let g = &case.labels.grid;
        let [nx, ny, nz] = g.dims;
        (0..ny).any(|y| (0..nx).any(|x| case.labels.voxels[g.index(x, y, nz - 1)] >= 1))
    };
    let mixed = PhantomOptions {
        scan_range: ScanRange::Mixed,
        ..coarse.clone()
    };
    let (mut long, mut cut) = (0, 0);
    for seed in 0..12 {
        let default = generate_case(Task::Liver, seed, &coarse).unwrap();
        assert!(!liver_in_top_slice(&default), "seed {seed}");
        let case = generate_case(Task::Liver, seed, &mixed).unwrap();
        long += usize::from(z_extent_mm(&case).0 < z_extent_mm(&default).0 - 100.0);
        cut += usize::from(liver_in_top_slice(&case));
    }
    assert!(
        (3..=10).contains(&long),
        "{long} of 12 mixed scans reach the pelvis"
    );
    assert!(
        (1..=7).contains(&cut),
        "{cut} of 12 mixed scans start inside the liver"
    );
}

#[test]
fn an_atrophic_pancreas_is_thin_and_fat_laced_like_the_real_ones_and_nothing_else_moves() {
    // 3 mm voxels, as the real TotalSegmentator pancreases (17 and 22 mL, median −9 HU over
    // the label) were measured at.
    let full = PhantomOptions {
        spacing_mm: Some([3.0, 3.0, 3.0]),
        random_file_order: false,
        lesion_count: Some(0),
        phase: Some(ContrastPhase::PortalVenous),
        ..PhantomOptions::default()
    };
    let atrophic = PhantomOptions {
        pancreas_build: PancreasBuild::Atrophic,
        ..full.clone()
    };
    let label_median_hu = |case: &PhantomCase| {
        let mut hu: Vec<f32> = (case.ct.voxels.iter().zip(&case.labels.voxels))
            .filter(|&(_, &l)| l == 1)
            .map(|(&v, _)| v)
            .collect();
        hu.sort_by(f32::total_cmp);
        hu[hu.len() / 2]
    };
    for seed in [3, 4] {
        let a = generate_case(Task::Pancreas, seed, &full).unwrap();
        let b = generate_case(Task::Pancreas, seed, &atrophic).unwrap();
        assert!(!a.atrophic_pancreas && b.atrophic_pancreas);
        let (ml_a, ml_b) = (a.organ_volume_ml(), b.organ_volume_ml());
        assert!(
            (50.0..115.0).contains(&ml_a) && (10.0..45.0).contains(&ml_b),
            "seed {seed}: full {ml_a:.0} mL, atrophic {ml_b:.0} mL"
        );
        let (hu_a, hu_b) = (label_median_hu(&a), label_median_hu(&b));
        assert!(
            (-45.0..45.0).contains(&hu_b) && hu_b < hu_a - 40.0,
            "seed {seed}: median {hu_a:.0} HU full, {hu_b:.0} HU atrophic"
        );
        // The same grid and, away from the full gland, the same voxels.
        assert_eq!(a.ct.grid.dims, b.ct.grid.dims);
        let g = &a.labels.grid;
        let gland: Vec<[usize; 3]> = (0..g.voxel_count())
            .filter(|&i| a.labels.voxels[i] >= 1)
            .map(|i| g.coords(i))
            .collect();
        let margin = 5; // voxels, 15 mm: the gland's lobulation and partial-volume rim
        let near_gland = |c: [usize; 3]| {
            (0..3).all(|k| {
                let lo = gland.iter().map(|v| v[k]).min().unwrap();
                let hi = gland.iter().map(|v| v[k]).max().unwrap();
                c[k] + margin >= lo && c[k] <= hi + margin
            })
        };
        let moved_elsewhere = (0..g.voxel_count())
            .filter(|&i| a.ct.voxels[i] != b.ct.voxels[i] && !near_gland(g.coords(i)))
            .count();
        assert_eq!(moved_elsewhere, 0, "seed {seed}");
    }
    // `Mixed` draws both builds; the default never thins the gland.
    let coarse = PhantomOptions {
        spacing_mm: Some([5.0, 5.0, 5.0]),
        ..full.clone()
    };
    let mixed = PhantomOptions {
        pancreas_build: PancreasBuild::Mixed,
        ..coarse.clone()
    };
    let thinned = (0..10)
        .filter(|&seed| {
            assert!(
                !generate_case(Task::Liver, seed, &coarse)
                    .unwrap()
                    .atrophic_pancreas
            );
            generate_case(Task::Liver, seed, &mixed)
                .unwrap()
                .atrophic_pancreas
        })
        .count();
    assert!((2..=8).contains(&thinned), "{thinned} of 10 mixed");
}
