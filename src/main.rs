use std::process::ExitCode;

use clap::Parser;

/// Many small allocations on every path (YAML trees, JSON bodies, records): mimalloc
/// serves them with far less time in the allocator than glibc's, across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Positions in mimalloc 3's `enum mi_option_e` (mimalloc.h), which the crate does not name.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returns freed memory to the system 10 ms after it is freed (mimalloc 2's default, set
/// here so that another version cannot quietly lengthen it), and commits arena memory only
/// as it is used: a burst of alerts should not leave the process holding its peak. It runs
/// before `main` (and before the allocator reserves its first arena), as the allocator
/// reads these options once.
extern "C" fn tune_allocator() {
    // SAFETY: runs while the process is single-threaded; the options are plain integers.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

#[used]
#[link_section = ".init_array"]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

fn main() -> ExitCode {
    let cli = statusgate::cli::Cli::parse();
    if !matches!(cli.command, statusgate::cli::Command::Serve { .. }) {
        // A command that runs once and exits: memory handed back to the system would only
        // be faulted in again (a large catalog frees its trees while building its index).
        // SAFETY: the option is a plain integer, read at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    statusgate::cli::main(cli)
}
