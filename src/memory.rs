//! How the binary's allocator (mimalloc) takes memory from the operating system and hands it
//! back.
//!
//! mimalloc keeps freed pages resident for a while (`mi_option_purge_delay`, one second in the
//! v3 sources `libmimalloc-sys` builds) in case they are needed again. That suits the terminal
//! UI, which recomputes the posture over and over. A one-shot `lastmile check` reads the
//! cluster, evaluates once and exits: every page the read or the evaluation freed stayed
//! counted in its peak RSS, which at L was about 50 MiB more than with the pages returned at
//! once (docs/performance-history.md).
//!
//! The terminal UI is the other way round: it evaluates a new posture on every change, and
//! each evaluation frees what the one before built. mimalloc's arenas handed those pages back
//! to the kernel within a recompute at twice the size of the L benchmark cluster, and the next
//! recompute faulted them in again (about 6,000 minor faults, 10–15% of its time). The UI
//! keeps freed pages for ten seconds, long enough to be used again by the next evaluation.
//!
//! mimalloc also asks the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)` on its
//! arenas). Memory then comes in 2 MiB pages, part of which a one-shot run never uses: about
//! 12 MiB of `check`'s peak RSS at L.

use std::ffi::c_int;

/// `mi_option_purge_delay` in `mimalloc.h` (the same number in the v2 and v3 sources of
/// `libmimalloc-sys` 0.1.49, which does not export the constant).
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// From now on, pages mimalloc frees go back to the operating system at once.
pub fn return_freed_memory_at_once() {
    // SAFETY: sets one integer option; mimalloc reads it when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// How long the terminal UI keeps freed pages before handing them back (milliseconds).
const UI_PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// From now on, pages mimalloc frees are kept for [`UI_PURGE_DELAY_MS`] before they go back
/// to the operating system: what the terminal UI, which evaluates again on every change, sets.
pub fn keep_freed_memory_for_recomputes() {
    // SAFETY: sets one integer option; mimalloc reads it when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, UI_PURGE_DELAY_MS) }
}

/// From now on, memory this process touches comes in base pages, not transparent huge pages
/// (what mimalloc does itself with `MIMALLOC_ALLOW_THP=0`, which can only be set before it
/// starts). Returns whether the kernel agreed; elsewhere than Linux there is nothing to do.
pub fn no_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's purge delay: its default is the documented one second
    /// (a different option behind the number would have another default), and setting it
    /// takes effect.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), 1000, "mimalloc's default purge delay (ms)");
        return_freed_memory_at_once();
        assert_eq!(get(), 0);
        keep_freed_memory_for_recomputes();
        assert_eq!(get(), UI_PURGE_DELAY_MS);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_turned_off_for_the_process() {
        assert!(no_transparent_huge_pages());
        // SAFETY: PR_GET_THP_DISABLE reads one flag.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }
}
