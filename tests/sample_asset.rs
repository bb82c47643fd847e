//! The bundled sample case is what the documented `synth` command generates, voxel for voxel,
//! and it loads as a liver case with lesions.

use std::path::Path;

use oncoscope::volume::decathlon::Task;
use oncoscope::volume::nifti::{read_ct, read_labels_for};
use oncoscope::volume::phantom::{PhantomOptions, case_seed, generate_case};

#[test]
fn sample_case_is_reproducible_from_its_seed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample");
    let ct = read_ct(&dir.join("ct.nii.gz")).unwrap();
    let labels = read_labels_for(&dir.join("label.nii.gz"), &ct).unwrap();
    // `oncoscope synth --task liver --cases 1 --seed 9 --shape 160,160,64`
    let options = PhantomOptions {
        shape: Some([160, 160, 64]),
        ..PhantomOptions::default()
    };
    let case = generate_case(Task::Liver, case_seed(9, 0), &options).unwrap();
    assert_eq!(ct.grid.dims, case.ct.grid.dims);
    assert!(
        (ct.grid.world_from_voxel - case.ct.grid.world_from_voxel)
            .abs()
            .max()
            < 1e-3
    );
    let differing = ct
        .voxels
        .iter()
        .zip(&case.ct.voxels)
        .filter(|(a, b)| (**a - b.round()).abs() > 0.5)
        .count();
    assert_eq!(differing, 0, "CT voxels differ from the generator's");
    assert_eq!(labels.voxels, case.labels.voxels);
    assert_eq!(case.lesions.len(), 3);
    assert!(labels.voxels.contains(&2) && labels.voxels.contains(&1));
}
