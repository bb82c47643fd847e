//! Training data: cases of a Decathlon-layout data set preprocessed once onto the model grid
//! (cached in memory and on disk, so later epochs and resumed runs never decode NIfTI again;
//! the disk cache is keyed by the preprocessing and by each case's source files, so an edited
//! or replaced file is prepared again), the deterministic train/validation split, and
//! augmentation.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::model::checkpoint::{LoadedModel, card_path, weights_path};
use crate::model::inference::find_organ;
use crate::model::preprocess::Preprocessing;
use crate::model::progress::CancelToken;
use crate::model::region::{Region, organ_cube};
use crate::volume::decathlon::{DecathlonDataset, check_task_labels, read_dataset};
use crate::volume::nifti::{read_ct, read_labels_for};
use crate::volume::phantom::Rng;

/// One case on the model grid.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    pub id: String,
    /// Network input, channel after channel, each x-fastest on the model grid: normalised
    /// intensities, then (when the preprocessing asks for it) the locator's tumour fraction.
    pub input: Vec<f32>,
    /// Labels (0, 1, 2) on the model grid; all 0 for extra normal scans.
    pub target: Vec<u8>,
    /// Whether the case has tumour voxels at its original resolution (the classifier's truth).
    pub has_tumour: bool,
    /// The locator meant to give the organ to fill around found none in this case, so the
    /// ground truth's organ was used instead (inference would refuse such a CT).
    pub organ_from_truth: bool,
}

/// Lists the data set, or explains what is wrong with the folder.
pub fn open_dataset(root: &Path) -> Result<DecathlonDataset> {
    let dataset = read_dataset(root)?;
    if dataset.training.is_empty() {
        bail!("{}: the data set has no training cases", root.display());
    }
    Ok(dataset)
}

/// Preprocesses every case (in parallel), reading from / writing to `cache_dir`.
/// `normals`: extra CT images of normal scans (no label maps), for the classifier.
/// `locator`: when the preprocessing fills outside the organ or gives the locator's tumour as
/// a channel, the organ is the one this model finds (as at inference, so that the network
/// learns on what it will see), or the ground truth's when `None` or when it finds nothing
/// (its organ only: the tumour channel never shows the ground truth's tumour).
/// `on_case(done, total, id)` follows the progress and returns whether to go on; when it says
/// stop, the cases not begun are left and [`PreparationStopped`] is returned.
pub fn prepare_cases(
    dataset: &DecathlonDataset,
    normals: &[PathBuf],
    pre: &Preprocessing,
    locator: Option<&LoadedModel>,
    cache_dir: &Path,
    on_case: &(dyn Fn(usize, usize, &str) -> bool + Sync),
) -> Result<Vec<PreparedCase>> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let jobs: Vec<(String, PathBuf, Option<PathBuf>)> = dataset
        .training
        .iter()
        .map(|c| (c.id.clone(), c.image.clone(), Some(c.label.clone())))
        .chain(
            normals
                .iter()
                .map(|p| (format!("normal-{}", file_stem(p)), p.clone(), None)),
        )
        .collect();
    // Inputs made around the locator's organ differ from those made around the ground
    // truth's, and so do two locators': their caches must differ.
    let locator_key = match locator {
        Some(locator) if sees_locator_labels(pre) => {
            format!(" locator {}", locator_fingerprint(locator)?)
        }
        _ => String::new(),
    };
    let key = preprocessing_key(pre, &locator_key);
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    jobs.par_iter()
        .map(|(id, image, label)| {
            if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(PreparationStopped.into());
            }
            let case = prepare_one(id, image, label.as_deref(), pre, locator, &key, cache_dir)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if !on_case(n, total, id) {
                stopped.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(case)
        })
        .collect()
}

/// [`prepare_cases`] stopped because its `on_case` said so (the run was stopped); the cases
/// prepared so far are in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("case preparation stopped")]
pub struct PreparationStopped;

/// Whether the network input depends on the organ's labels (the locator's at inference).
fn sees_locator_labels(pre: &Preprocessing) -> bool {
    pre.outside_organ.fill_margin_mm().is_some() || pre.locator_tumour_channel
}

fn file_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string()
}

fn prepare_one(
    id: &str,
    image: &Path,
    label: Option<&Path>,
    pre: &Preprocessing,
    locator: Option<&LoadedModel>,
    key: &str,
    cache_dir: &Path,
) -> Result<PreparedCase> {
    let input_from_locator = locator.is_some() && sees_locator_labels(pre);
    let cache = cache_dir.join(format!("{id}-{}.bin", case_key(key, image, label)));
    if let Some(case) = read_cache(&cache, id, pre) {
        return Ok(case);
    }
    let ct = read_ct(image)?;
    let (input, target, has_tumour, organ_from_truth) = match label {
        Some(path) => {
            let labels = read_labels_for(path, &ct)?;
            check_task_labels(path, &labels)?;
            let region = match pre.region {
                Region::WholeBox => None,
                Region::OrganCube { margin_mm } => {
                    Some(organ_cube(&labels, margin_mm).with_context(|| {
                        format!(
                            "{}: no organ voxels, and this model sees only the organ's region",
                            path.display()
                        )
                    })?)
                }
            };
            let found = match locator {
                Some(locator) if input_from_locator => {
                    find_organ(locator, &ct, &CancelToken::new())?
                        .filter(|organ| organ.voxels.iter().any(|&l| l > 0))
                }
                _ => None,
            };
            let organ_from_truth = input_from_locator && found.is_none();
            // The organ the input is made around when it needs one: the locator's, else the
            // ground truth's organ alone (its tumour as organ: the tumour channel must not
            // show the answer).
            let organ = match found {
                Some(found) => Some(found),
                None if sees_locator_labels(pre) => {
                    Some(labels.with_voxels(labels.voxels.iter().map(|&l| l.min(1)).collect())?)
                }
                None => None,
            };
            (
                pre.network_input(&ct, region.as_ref(), organ.as_ref())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?,
                pre.target_labels(&labels, region.as_ref()),
                labels.voxels.contains(&2),
                organ_from_truth,
            )
        }
        None => {
            if pre.region != Region::WholeBox {
                bail!(
                    "{}: a scan without a label map cannot train a model of the organ's region",
                    image.display()
                );
            }
            (
                pre.input_voxels(&ct, None),
                vec![0u8; pre.grid.iter().product()],
                false,
                false,
            )
        }
    };
    let case = PreparedCase {
        id: id.to_string(),
        input,
        target,
        has_tumour,
        organ_from_truth,
    };
    write_cache(&cache, &case).with_context(|| format!("writing cache {}", cache.display()))?;
    remove_stale_caches(cache_dir, id, &cache);
    Ok(case)
}

/// Removes the cached versions of case `id` with the same preprocessing as `current` but
/// other source files (made from its files before they changed), so that a run folder's cache
/// does not grow with every edit of a label map. Cache files are named
/// `<id>-<preprocessing key>-<source files key>.bin`, neither key holding a '-'.
fn remove_stale_caches(cache_dir: &Path, id: &str, current: &Path) {
    let same_case_and_preprocessing = |path: &Path| {
        path.file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.rsplit_once('-'))
            .map(|(prefix, _)| prefix.to_string())
    };
    let Some(prefix) = same_case_and_preprocessing(current) else {
        return;
    };
    if !prefix.starts_with(&format!("{id}-")) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_some_and(|e| e == "bin")
            && path != current
            && same_case_and_preprocessing(&path).as_deref() == Some(prefix.as_str())
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A short key that changes whenever the preprocessing does (`extra`: what else decides the
/// input, such as the locator that fills), so stale caches are not reused.
fn preprocessing_key(pre: &Preprocessing, extra: &str) -> String {
    format!(
        "{:016x}",
        fnv1a(format!("{pre:?}{extra}").as_bytes(), FNV_OFFSET)
    )
}

/// The cache key of one case: the preprocessing's `key` and, after a '-', a hash of the
/// identity of the case's source files (see [`file_identity`]), so that a label map fixed
/// after a run, or another data set with the same case ids, is prepared again rather than
/// read stale from the cache.
fn case_key(key: &str, image: &Path, label: Option<&Path>) -> String {
    let sources: String = std::iter::once(image)
        .chain(label)
        .map(file_identity)
        .collect();
    format!("{key}-{:016x}", fnv1a(sources.as_bytes(), FNV_OFFSET))
}

/// A file's identity, cheap to take (its content is not read): its path (absolute where it
/// can be resolved), length in bytes and modification time (ns since the Unix epoch). Only
/// the path when the file cannot be examined (reading it will then say why).
fn file_identity(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let metadata = std::fs::metadata(path).ok();
    let length = metadata.as_ref().map(std::fs::Metadata::len);
    let modified_ns = metadata
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    format!(" {absolute:?} {length:?} {modified_ns:?}")
}

/// Identifies a locator by the bytes of its files (weights and card, its own locator's
/// too) and by how its organ is taken from its labels.
fn locator_fingerprint(locator: &LoadedModel) -> Result<String> {
    let mut hash = fnv1a(
        format!("pieces {}", crate::model::region::MIN_ORGAN_PIECE_FRACTION).as_bytes(),
        FNV_OFFSET,
    );
    let mut model = Some(locator);
    while let Some(m) = model {
        for file in [weights_path(&m.path), card_path(&m.path)] {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("{}: cannot read the locator", file.display()))?;
            hash = fnv1a(&bytes, hash);
        }
        model = m.locator.as_deref();
    }
    Ok(format!("{hash:016x}"))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a of `bytes`, continuing from `hash`.
fn fnv1a(bytes: &[u8], hash: u64) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

const CACHE_MAGIC: &[u8; 8] = b"ONCOPRE1";

fn write_cache(path: &Path, case: &PreparedCase) -> Result<()> {
    crate::atomic_file::write_atomically(path, |out| {
        out.write_all(CACHE_MAGIC)?;
        out.write_all(&(case.input.len() as u64).to_le_bytes())?;
        // Flags: bit 0 tumour, bit 1 organ from the ground truth (caches of before hold 0 or 1).
        out.write_all(&[u8::from(case.has_tumour) | (u8::from(case.organ_from_truth) << 1)])?;
        for v in &case.input {
            out.write_all(&v.to_le_bytes())?;
        }
        out.write_all(&case.target)
    })?;
    Ok(())
}

fn read_cache(path: &Path, id: &str, pre: &Preprocessing) -> Option<PreparedCase> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    // Voxels of the model grid, and input values: one per voxel and channel.
    let n: usize = pre.grid.iter().product();
    let len = n * pre.input_channels();
    if bytes.len() != 8 + 8 + 1 + 4 * len + n || &bytes[..8] != CACHE_MAGIC {
        return None;
    }
    if u64::from_le_bytes(bytes[8..16].try_into().ok()?) as usize != len {
        return None;
    }
    let (has_tumour, organ_from_truth) = (bytes[16] & 1 != 0, bytes[16] & 2 != 0);
    let input = bytes[17..17 + 4 * len]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let target = bytes[17 + 4 * len..].to_vec();
    Some(PreparedCase {
        id: id.to_string(),
        input,
        target,
        has_tumour,
        organ_from_truth,
    })
}

/// Deterministic split of case indices into (training, validation) by `seed`; at least one
/// case in each when there are two or more.
pub fn split(count: usize, validation_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    shuffle(&mut order, &mut Rng::stream(seed, "split"));
    let mut validation = ((count as f64) * validation_fraction.clamp(0.0, 0.9)).round() as usize;
    if count >= 2 {
        validation = validation.clamp(1, count - 1);
    } else {
        validation = 0;
    }
    let val = order.split_off(count - validation);
    (order, val)
}

/// Fisher–Yates shuffle.
pub fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = ((rng.uniform() * (i + 1) as f64) as usize).min(i);
        items.swap(i, j);
    }
}

/// Augmentation switches and strengths.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augmentation {
    /// Random in-plane (axial) rotation up to ± this many degrees.
    pub rotate_deg: f32,
    /// Random flips along the anterior–posterior and superior–inferior axes. Left–right flips
    /// are never made: they would move the liver to the wrong side.
    pub flip: bool,
    /// Gaussian noise with standard deviation up to this (normalised units).
    pub noise_sd: f32,
    /// Intensity shift up to ± this (normalised units) and scale up to 1 ± `intensity_scale`.
    pub intensity_shift: f32,
    pub intensity_scale: f32,
}

impl Augmentation {
    pub const NONE: Augmentation = Augmentation {
        rotate_deg: 0.0,
        flip: false,
        noise_sd: 0.0,
        intensity_shift: 0.0,
        intensity_scale: 0.0,
    };

    pub const DEFAULT: Augmentation = Augmentation {
        rotate_deg: 10.0,
        flip: true,
        noise_sd: 0.05,
        intensity_shift: 0.1,
        intensity_scale: 0.1,
    };

    /// An augmented copy of `case`: every input channel and the target move together; the
    /// intensity changes and noise touch only the first channel (the CT).
    pub fn apply(
        &self,
        case: &PreparedCase,
        dims: [usize; 3],
        rng: &mut Rng,
    ) -> (Vec<f32>, Vec<u8>) {
        let n: usize = dims.iter().product();
        let mut input = case.input.clone();
        let mut target = case.target.clone();
        if self.rotate_deg > 0.0 {
            let angle = rng
                .range_f32(-self.rotate_deg, self.rotate_deg)
                .to_radians();
            input = input
                .chunks_exact(n)
                .flat_map(|channel| rotate_axial_bilinear(channel, dims, angle))
                .collect();
            target = rotate_axial_nearest(&target, dims, angle);
        }
        if self.flip {
            for axis in [1, 2] {
                if rng.chance(0.5) {
                    for channel in input.chunks_exact_mut(n) {
                        flip(channel, dims, axis);
                    }
                    flip(&mut target, dims, axis);
                }
            }
        }
        let scale = 1.0 + rng.range_f32(-self.intensity_scale, self.intensity_scale);
        let shift = rng.range_f32(-self.intensity_shift, self.intensity_shift);
        let noise = rng.range_f32(0.0, self.noise_sd);
        for v in &mut input[..n] {
            *v = *v * scale
                + shift
                + if noise > 0.0 {
                    noise * rng.normal() as f32
                } else {
                    0.0
                };
        }
        (input, target)
    }
}

/// Reverses x-fastest voxels along `axis` (0 x, 1 y, 2 z).
fn flip<T: Copy>(voxels: &mut [T], dims: [usize; 3], axis: usize) {
    let [nx, ny, nz] = dims;
    let index = |x: usize, y: usize, z: usize| x + nx * (y + ny * z);
    let original = voxels.to_vec();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let (sx, sy, sz) = match axis {
                    0 => (nx - 1 - x, y, z),
                    1 => (x, ny - 1 - y, z),
                    _ => (x, y, nz - 1 - z),
                };
                voxels[index(x, y, z)] = original[index(sx, sy, sz)];
            }
        }
    }
}

/// Where the point `(x, y)` of an axial slice rotated by `(cos, sin)` about its centre comes
/// from in the unrotated slice: `(sx, sy)`, clamped to the slice (outside points take the edge).
fn rotated_source(x: usize, y: usize, nx: usize, ny: usize, (c, s): (f32, f32)) -> (f32, f32) {
    let (cx, cy) = ((nx as f32 - 1.0) / 2.0, (ny as f32 - 1.0) / 2.0);
    let (dx, dy) = (x as f32 - cx, y as f32 - cy);
    let sx = (c * dx + s * dy + cx).clamp(0.0, (nx - 1) as f32);
    let sy = (-s * dx + c * dy + cy).clamp(0.0, (ny - 1) as f32);
    (sx, sy)
}

/// Rotates every axial slice of x-fastest `voxels` by `angle` radians about its centre,
/// interpolating bilinearly.
fn rotate_axial_bilinear(voxels: &[f32], dims: [usize; 3], angle: f32) -> Vec<f32> {
    let [nx, ny, _] = dims;
    let turn = (angle.cos(), angle.sin());
    let plane = nx * ny;
    let mut out = vec![0.0f32; voxels.len()];
    out.par_chunks_mut(plane)
        .zip(voxels.par_chunks(plane))
        .for_each(|(out, slice)| {
            for y in 0..ny {
                for x in 0..nx {
                    let (sx, sy) = rotated_source(x, y, nx, ny, turn);
                    let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(nx - 1), (y0 + 1).min(ny - 1));
                    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                    let v = |xx: usize, yy: usize| slice[xx + nx * yy];
                    let top = v(x0, y0) + (v(x1, y0) - v(x0, y0)) * fx;
                    let bottom = v(x0, y1) + (v(x1, y1) - v(x0, y1)) * fx;
                    out[x + nx * y] = top + (bottom - top) * fy;
                }
            }
        });
    out
}

/// Rotates every axial slice of x-fastest labels by `angle` radians about its centre, taking
/// the nearest voxel.
fn rotate_axial_nearest(labels: &[u8], dims: [usize; 3], angle: f32) -> Vec<u8> {
    let [nx, ny, _] = dims;
    let turn = (angle.cos(), angle.sin());
    let plane = nx * ny;
    let mut out = vec![0u8; labels.len()];
    out.par_chunks_mut(plane)
        .zip(labels.par_chunks(plane))
        .for_each(|(out, slice)| {
            for y in 0..ny {
                for x in 0..nx {
                    let (sx, sy) = rotated_source(x, y, nx, ny, turn);
                    out[x + nx * y] = slice[sx.round() as usize + nx * sy.round() as usize];
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let (a, b) = split(10, 0.2, 7);
        assert_eq!(split(10, 0.2, 7), (a.clone(), b.clone()));
        assert_eq!(b.len(), 2);
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(split(10, 0.2, 8), (a, b));
        assert_eq!(split(2, 0.0, 1).1.len(), 1);
    }

    #[test]
    fn augmentation_moves_input_and_target_together() {
        let dims = [8, 8, 4];
        let n = 256;
        let target: Vec<u8> = (0..n).map(|i| u8::from(i % 8 < 2)).collect();
        let input: Vec<f32> = target.iter().map(|&t| t as f32).collect();
        let case = PreparedCase {
            id: "t".into(),
            input,
            target,
            has_tumour: false,
            organ_from_truth: false,
        };
        let aug = Augmentation {
            noise_sd: 0.0,
            intensity_shift: 0.0,
            intensity_scale: 0.0,
            ..Augmentation::DEFAULT
        };
        let mut rng = Rng::new(3);
        for _ in 0..5 {
            let (i, t) = aug.apply(&case, dims, &mut rng);
            let agree = i
                .iter()
                .zip(&t)
                .filter(|(a, b)| (**a > 0.5) == (**b == 1))
                .count();
            assert!(agree as f64 > 0.9 * n as f64, "{agree}");
        }
    }

    #[test]
    fn every_channel_moves_with_the_target_and_only_the_first_is_rescaled() {
        let dims = [8, 8, 4];
        let n = 256;
        let target: Vec<u8> = (0..n).map(|i| u8::from(i % 8 < 2)).collect();
        let mask: Vec<f32> = target.iter().map(|&t| t as f32).collect();
        // Channel 0: the mask (rescaled by the augmentation); channel 1: the mask again.
        let case = PreparedCase {
            id: "t".into(),
            input: mask.iter().chain(&mask).copied().collect(),
            target,
            has_tumour: false,
            organ_from_truth: false,
        };
        let aug = Augmentation {
            noise_sd: 0.0,
            intensity_shift: 0.5,
            intensity_scale: 0.5,
            ..Augmentation::DEFAULT
        };
        let mut rng = Rng::new(5);
        for _ in 0..5 {
            let (input, target) = aug.apply(&case, dims, &mut rng);
            assert_eq!(input.len(), 2 * n);
            let (ct, second) = input.split_at(n);
            // The second channel is rotated and flipped like the target, values untouched
            // but for interpolation (0..1).
            let agree = second
                .iter()
                .zip(&target)
                .filter(|(v, t)| (**v > 0.5) == (**t == 1))
                .count();
            assert!(agree as f64 > 0.9 * n as f64, "{agree}");
            assert!(second.iter().all(|v| (0.0..=1.0).contains(v)));
            // The first was shifted or scaled: it is no longer within 0..1 everywhere, or no
            // longer equal to the second.
            assert!(ct.iter().zip(second).any(|(a, b)| (a - b).abs() > 1e-3));
        }
    }
}
