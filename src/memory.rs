//! How the process's allocator keeps and returns memory: the networks allocate and free
//! tensors of up to hundreds of MB on every step, and glibc's default of returning freed heap
//! memory to the system at once makes the next step fault every page in again.
//!
//! Measured (`oncoscope bench models`, 96³, 2-core VM; see docs/DEVELOPING.md): keeping freed
//! heap memory took the CNN3D train step 2.79 → 2.03 s and inference 0.23 → 0.18 s, the UNet3D
//! train step 19.3 → 18.3 s and inference 2.82 → 2.49 s, peak memory about the same (3.54 →
//! 3.48 GB). Serving blocks above 32 MB from the heap too (session 10) took the UNet3D train
//! step about 10.4 → 8.4 s, peak memory 3.52 → 3.89 GB.

/// Keeps freed heap memory for reuse instead of trimming it back to the system after every
/// free, and grows the heap in large steps (glibc only; elsewhere nothing to do). Call once at
/// start-up, before threads allocate. Pair with [`release_free_memory`] after a long job.
pub fn keep_freed_memory_for_reuse() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // start allocating.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 1 << 30);
        // glibc serves every block above 32 MB (the most M_MMAP_THRESHOLD accepts) with a
        // fresh mmap and unmaps it on free, so each of the U-Net's activations faulted all its
        // pages in again on every step. Without mmap they come from the heap and are reused;
        // when the heap cannot grow, glibc still falls back to mmap.
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}

/// Returns the heap memory freed by a finished job to the system (glibc only), so an idle
/// viewer does not keep a training run's peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases memory not in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
