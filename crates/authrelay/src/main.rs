//! authrelay: the binary. CLI wiring only; each part lives in its own crate.

mod admin_cli;
mod admin_listener;
mod bench_cmd;
mod cli;
mod commands;
mod delivery_cli;
mod device_cli;
mod import_cli;
mod operations;
mod output;
mod protection_cli;
mod serve;
mod tls;
mod troubleshoot_cmd;

use std::process::ExitCode;

use authrelay_i18n::Lang;
use clap::Parser;

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
