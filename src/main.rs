use std::ffi::{c_char, c_int, c_void, CStr};
use std::process::ExitCode;

use clap::Parser;

/// Many small allocations on every path (YAML trees, JSON bodies, records): mimalloc
/// serves them with far less time in the allocator than glibc's, across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Positions in mimalloc 3's `enum mi_option_e` (mimalloc.h), which the crate does not name.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator up for the command being run. It runs before `main` (and before the
/// allocator reserves its first arena), as the allocator reads these options once.
///
/// `serve` returns freed memory to the system 10 ms after it is freed (mimalloc 2's
/// default, set here so that another version cannot quietly lengthen it), and commits arena
/// memory only as it is used: a burst of alerts should not leave the process holding its
/// peak.
///
/// A command that runs once and exits (`check`, `test`, …) commits its arena up front,
/// which lets the kernel back it with huge pages: a large catalog's trees then cost a few
/// hundred page faults instead of some twelve thousand, a third of `check`'s time. It
/// never hands memory back, which would only be faulted in again (a large catalog frees
/// its trees while building its index).
extern "C" fn tune_allocator(argc: c_int, argv: *const *const c_char, _envp: *const c_void) {
    // SAFETY: glibc passes `main`'s arguments to `.init_array` functions (std relies on
    // the same); the command is the first argument.
    let serve = !cfg!(target_env = "gnu")
        || argc < 2
        || argv.is_null()
        || unsafe { CStr::from_ptr(*argv.add(1)) } == c"serve";
    let (purge_delay, eager_commit) = if serve { (10, 0) } else { (-1, 1) };
    // SAFETY: runs while the process is single-threaded; the options are plain integers.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, purge_delay);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, eager_commit);
    }
}

#[used]
#[link_section = ".init_array"]
static TUNE_ALLOCATOR: extern "C" fn(c_int, *const *const c_char, *const c_void) = tune_allocator;

fn main() -> ExitCode {
    let cli = statusgate::cli::Cli::parse();
    statusgate::cli::main(cli)
}
