//! Tiled U-Net inference: the model grid run as overlapping cubes of the size the network was
//! trained on (lesion crops, `training::crops`), their logits averaged where they overlap.
//! Instance normalisation then sees inputs of the size and make-up it learnt from.

use candle_core::{Result, Tensor};

use super::config::Network;

/// Where cubes of `tile` voxels start along an axis of `n` voxels: from 0 to `n − tile`, at
/// most half a tile apart, evenly spread; `[0]` when the tile covers the axis.
pub fn tile_starts(n: usize, tile: usize) -> Vec<usize> {
    if tile >= n {
        return vec![0];
    }
    let span = n - tile;
    let gaps = span.div_ceil((tile / 2).max(1));
    (0..=gaps).map(|i| i * span / gaps).collect()
}

/// The U-Net `network`'s logits for `xs` `(n, c, d, h, w)`, computed tile by tile: cubes of
/// `tile` voxels a side (each axis shorter than that is taken whole) at [`tile_starts`], each
/// voxel's logits the mean of the tiles that hold it. Returns `(n, classes, d, h, w)` on `xs`'s
/// device.
pub fn forward_tiled(network: &Network, xs: &Tensor, tile: usize) -> Result<Tensor> {
    let (n, _, d, h, w) = xs.dims5()?;
    let (tz, ty, tx) = (tile.min(d), tile.min(h), tile.min(w));
    let mut sum: Vec<f32> = Vec::new();
    let mut count = vec![0u32; d * h * w];
    let mut classes = 0;
    for &z0 in &tile_starts(d, tz) {
        for &y0 in &tile_starts(h, ty) {
            for &x0 in &tile_starts(w, tx) {
                let cube = xs
                    .narrow(2, z0, tz)?
                    .narrow(3, y0, ty)?
                    .narrow(4, x0, tx)?
                    .contiguous()?;
                let out = network.forward_t(&cube, false)?;
                classes = out.dim(1)?;
                if sum.is_empty() {
                    sum = vec![0f32; n * classes * d * h * w];
                }
                let logits = out.flatten_all()?.to_vec1::<f32>()?;
                for (i, value) in logits.into_iter().enumerate() {
                    let x = i % tx;
                    let y = (i / tx) % ty;
                    let z = (i / (tx * ty)) % tz;
                    let plane = i / (tx * ty * tz);
                    let at = x0 + x + w * (y0 + y + h * (z0 + z));
                    sum[plane * d * h * w + at] += value;
                    if plane == 0 {
                        count[at] += 1;
                    }
                }
            }
        }
    }
    for (i, value) in sum.iter_mut().enumerate() {
        *value /= count[i % (d * h * w)] as f32;
    }
    Tensor::from_vec(sum, (n, classes, d, h, w), xs.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Architecture;
    use crate::model::config::ModelKind;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    #[test]
    fn tiles_start_at_both_ends_and_overlap_by_half_or_more() {
        assert_eq!(tile_starts(96, 64), vec![0, 32]);
        assert_eq!(tile_starts(96, 48), vec![0, 24, 48]);
        assert_eq!(tile_starts(64, 64), vec![0]);
        assert_eq!(tile_starts(40, 64), vec![0]);
        let starts = tile_starts(100, 32);
        assert_eq!((starts[0], *starts.last().unwrap()), (0, 68));
        assert!(starts.windows(2).all(|p| p[1] - p[0] <= 16 && p[1] > p[0]));
    }

    fn unet() -> Network {
        let varmap = VarMap::new();
        let architecture = Architecture {
            channels: [4, 4, 8, 8],
            ..Architecture::reference(ModelKind::Unet)
        };
        Network::new(
            &architecture,
            1,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap()
    }

    #[test]
    fn one_tile_covering_the_grid_is_the_plain_forward_pass() {
        let network = unet();
        let xs = Tensor::randn(0f32, 1.0, (1, 1, 16, 24, 16), &Device::Cpu).unwrap();
        let plain = network.forward_t(&xs, false).unwrap();
        let tiled = forward_tiled(&network, &xs, 24).unwrap();
        let diff = (plain - tiled).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn each_voxel_is_the_mean_of_the_tiles_that_hold_it() {
        let network = unet();
        // Two tiles along x (0..16 and 8..24), one along y and z.
        let xs = Tensor::randn(0f32, 1.0, (1, 1, 16, 16, 24), &Device::Cpu).unwrap();
        let tiled = forward_tiled(&network, &xs, 16).unwrap();
        assert_eq!(tiled.dims(), &[1, 3, 16, 16, 24]);
        let left = network
            .forward_t(&xs.narrow(4, 0, 16).unwrap(), false)
            .unwrap();
        let right = network
            .forward_t(&xs.narrow(4, 8, 16).unwrap().contiguous().unwrap(), false)
            .unwrap();
        let at = |t: &Tensor, c: usize, z: usize, y: usize, x: usize| {
            t.get(0)
                .unwrap()
                .get(c)
                .unwrap()
                .get(z)
                .unwrap()
                .get(y)
                .unwrap()
                .get(x)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        // Only the left tile holds x = 3, only the right one x = 20; both hold x = 12.
        assert!((at(&tiled, 1, 5, 6, 3) - at(&left, 1, 5, 6, 3)).abs() < 1e-5);
        assert!((at(&tiled, 2, 5, 6, 20) - at(&right, 2, 5, 6, 12)).abs() < 1e-5);
        let mean = (at(&left, 0, 9, 2, 12) + at(&right, 0, 9, 2, 4)) / 2.0;
        assert!((at(&tiled, 0, 9, 2, 12) - mean).abs() < 1e-5);
    }
}
