//! Allocator tuning shared by the binaries that hold large buffers.
//!
//! glibc serves large allocations from its heap arenas once its *dynamic*
//! mmap threshold has risen past them (it rises after the first large free),
//! and memory freed in an arena is seldom returned to the system. A process
//! whose large buffers come and go on several threads (frames of many
//! connections, whole files being decoded) then keeps its peak for good:
//! resident memory stops following what is really in use. Pinning the
//! threshold at 1 MiB keeps every large buffer in its own mapping, returned
//! on free, so a memory bound set in configuration is the one that holds.

/// Pins glibc's mmap threshold at 1 MiB. Call first thing in `main`, before
/// any thread starts. Does nothing on other C libraries.
pub fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
