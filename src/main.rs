//! The `keygate` binary: everything lives in the library; see `keygate --help`.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    keygate::cli::main()
}

/// At most two glibc malloc arenas (glibc's default: eight per core). Each thread that
/// allocates gets an arena of its own, and an arena keeps what is freed in it for its
/// own reuse; the decision path allocates on the runtime's threads and the store's
/// writes (analytics and last-used flushes) on the blocking pool's, so the same memory
/// was held more than once: with 1 000 000 keys, a miss stream's flush took the
/// embedded store's process from 62 to 129 MiB; with two arenas its peak is 71–77 MiB
/// (one arena: 61 MiB, but 25 % more CPU per miss, from the lock). docs/benchmarks.md,
/// "Scale". An operator's own `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    // SAFETY: mallopt takes two integers and changes a setting of glibc's allocator;
    // it is called before any thread is started, and its result (0 when the setting is
    // refused) only means the default stays.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
