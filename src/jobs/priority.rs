//! Background scheduling priority for the ML worker, so that inference on every core still
//! leaves the UI thread (and the software rasteriser, where there is no GPU) the CPU it needs.

/// Nice value of the ML threads (0 normal, 19 lowest): low enough that the UI wins every
/// contest for a core, not so low that inference starves behind unrelated work.
#[cfg(target_os = "linux")]
const ML_NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority. On Linux a nice value belongs to a thread,
/// so only the caller is affected; elsewhere this does nothing. Failure is harmless (the thread
/// keeps its priority) and ignored.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `who` = 0 is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, ML_NICE);
    }
}

/// A rayon pool for the ML worker whose threads run at lowered priority; `None` when the pool
/// cannot be built (the global pool is used then).
pub fn background_pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("oncoscope-ml-{i}"))
        .start_handler(|_| lower_current_thread_priority())
        .build()
        .ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn current_nice() -> libc::c_int {
        // SAFETY: getpriority only reads its integer arguments.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn pool_threads_run_at_lower_priority_and_the_caller_keeps_its_own() {
        let before = current_nice();
        let pool = background_pool().expect("pool");
        let inside = pool.install(current_nice);
        assert_eq!(
            current_nice(),
            before,
            "the calling thread must keep its priority"
        );
        // Raising priority back is not allowed unprivileged, so a nicer start stays nicer.
        assert!(
            inside >= ML_NICE.min(19).max(before),
            "pool thread nice {inside}, caller {before}"
        );
    }
}
