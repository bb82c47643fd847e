//! The two networks: parameter counts equal the PyTorch references, shapes at odd sizes,
//! and gradients reach every parameter.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use oncoscope::model::{CNN3D, GlobalPool, UNet3D};

fn parameter_count(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

#[test]
fn parameter_counts_match_the_reference_architectures() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    UNet3D::new(1, [16, 32, 64, 128], 3, vb).unwrap();
    assert_eq!(parameter_count(&varmap), 1_402_003);
    assert_eq!(varmap.all_vars().len(), 64);

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    CNN3D::new(1, [16, 32, 64, 128], GlobalPool::Average, vb).unwrap();
    assert_eq!(parameter_count(&varmap), 291_585);
    assert_eq!(varmap.all_vars().len(), 18);
}

#[test]
fn unet_keeps_odd_multiple_of_eight_shapes_and_all_parameters_get_gradients() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let unet = UNet3D::new(1, [4, 8, 8, 8], 3, vb).unwrap();
    let xs = Tensor::randn(0f32, 1.0, (2, 1, 8, 16, 24), &Device::Cpu).unwrap();
    let logits = unet.forward(&xs).unwrap();
    assert_eq!(logits.dims(), &[2, 3, 8, 16, 24]);
    let grads = logits
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .backward()
        .unwrap();
    for var in varmap.all_vars() {
        let g = grads.get(&var).expect("every parameter gets a gradient");
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            norm.is_finite() && norm > 0.0,
            "zero or NaN gradient for a parameter of shape {:?}",
            var.dims()
        );
    }
    // Sizes that the four levels cannot halve cleanly are refused with a message.
    let bad = Tensor::zeros((1, 1, 12, 16, 16), DType::F32, &Device::Cpu).unwrap();
    assert!(
        unet.forward(&bad)
            .unwrap_err()
            .to_string()
            .contains("divisible by 8")
    );
}

#[test]
fn cnn_gives_one_logit_per_sample_at_odd_sizes() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cnn = CNN3D::new(1, [4, 8, 8, 8], GlobalPool::Average, vb).unwrap();
    let xs = Tensor::randn(0f32, 1.0, (3, 1, 17, 19, 23), &Device::Cpu).unwrap();
    let logits = cnn.forward(&xs).unwrap();
    assert_eq!(logits.dims(), &[3, 1]);
    let train = cnn.forward_t(&xs, true).unwrap();
    assert_eq!(train.dims(), &[3, 1]);
}

#[test]
fn max_pooled_cnn_has_the_reference_parameters_and_one_logit_per_sample() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    CNN3D::new(1, [16, 32, 64, 128], GlobalPool::Max, vb).unwrap();
    assert_eq!(parameter_count(&varmap), 291_585);

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cnn = CNN3D::new(1, [4, 8, 8, 8], GlobalPool::Max, vb).unwrap();
    let xs = Tensor::randn(0f32, 1.0, (2, 1, 17, 19, 23), &Device::Cpu).unwrap();
    assert_eq!(cnn.forward(&xs).unwrap().dims(), &[2, 1]);
    // Different inputs give different logits (the pooling passes information through).
    let logits = cnn
        .forward(&xs)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_ne!(logits[0], logits[1]);
}

#[test]
fn max_cell_cnn_scores_every_cell_and_takes_the_highest() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cnn = CNN3D::new(1, [4, 8, 8, 8], GlobalPool::MaxCell, vb).unwrap();
    let xs = Tensor::randn(0f32, 1.0, (2, 1, 32, 48, 33), &Device::Cpu).unwrap();
    let cells = cnn.cell_logits(&xs).unwrap();
    assert_eq!(cells.dims(), &[2, 1, 2, 3, 2]);
    let logits = cnn.forward(&xs).unwrap();
    assert_eq!(logits.dims(), &[2, 1]);
    let cells = cells.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
    let logits = logits.to_vec2::<f32>().unwrap();
    for (case_cells, case_logit) in cells.iter().zip(&logits) {
        let highest = case_cells.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(highest, case_logit[0]);
        assert!(case_cells.iter().any(|&c| c != highest), "cells differ");
    }
}
