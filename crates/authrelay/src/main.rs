//! authrelay: the binary. CLI wiring only; each part lives in its own crate.

mod cli;
mod commands;
mod config;
mod output;
mod serve;
mod tls;

use std::process::ExitCode;

use authrelay_i18n::Lang;
use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
