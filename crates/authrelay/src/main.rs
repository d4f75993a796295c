//! authrelay: the binary. CLI wiring only; each part lives in its own crate.

mod admin_cli;
mod admin_listener;
mod backup;
mod bench_cmd;
mod cli;
mod commands;
mod delivery_cli;
mod device_cli;
mod import_cli;
mod metrics;
mod notify;
mod operations;
mod output;
mod protection_cli;
mod serve;
mod store;
mod store_cli;
mod tls;
mod troubleshoot_cmd;

use std::process::ExitCode;

use authrelay_i18n::Lang;
use clap::Parser;

/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
/// large blocks come from per-thread arenas and stay resident when freed. Under an AUTH flood
/// that kept ~290 MiB resident (`authrelay bench auth-flood`, 2,000 attempts); with the
/// threshold fixed at its default of 128 KiB, large blocks are mapped and unmapped and the
/// same flood peaks under 100 MiB (README, "Limits that protect memory").
fn keep_large_allocations_returnable() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any thread is started; mallopt only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Serve(_) | cli::Command::Bench(_)) {
        // Admin commands behave like Unix tools when piped into `head`: end quietly on a closed
        // pipe instead of panicking. The server keeps Rust's default (SIGPIPE ignored) so a
        // client hanging up is an error on one socket, not the end of the process.
        // SAFETY: called before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if matches!(cli.command, cli::Command::Serve(_)) {
        keep_large_allocations_returnable();
    }
    let lang = Lang::detect(cli.lang.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("authrelay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli, lang)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.render(lang));
            ExitCode::from(e.exit_code())
        }
    }
}
