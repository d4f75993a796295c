//! authrelay: the binary. CLI wiring only; each part lives in its own crate.

mod acme;
mod admin_cli;
mod admin_listener;
mod backup;
mod bench_cmd;
mod cli;
mod commands;
mod control;
mod delivery_cli;
mod device_cli;
mod import_cli;
mod metrics;
mod notify;
mod oauth_cli;
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

/// The language asked for on a command line clap refused: `--lang X` / `--lang=X`, else the
/// environment.
fn lang_of_args() -> Lang {
    let args: Vec<String> = std::env::args().collect();
    let flag = args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--lang=") {
        Some(v) => Some(v.to_string()),
        None if a == "--lang" => args.get(i + 1).cloned(),
        None => None,
    });
    Lang::detect(flag.as_deref())
}

/// clap's refusal of a command line in the reader's language: what is wrong from the error's
/// kind and context, then clap's usage line (commands stay as typed). Help and version output
/// are clap's own.
fn usage_error(e: &clap::Error, lang: Lang) -> String {
    use authrelay_i18n::{t, Arg};
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let get = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let (arg, value, valid) =
        (get(ContextKind::InvalidArg), get(ContextKind::InvalidValue), get(ContextKind::ValidValue));
    let (id, args): (&str, Vec<(&str, String)>) = match e.kind() {
        ErrorKind::InvalidValue if !valid.is_empty() => {
            ("clap-invalid-choice", vec![("value", value), ("arg", arg), ("choices", valid)])
        }
        // A setting's own parser names its spellings (`UnknownSetting`): list them as choices.
        ErrorKind::ValueValidation if setting_choices(e).is_some() => (
            "clap-invalid-choice",
            vec![("value", value), ("arg", arg), ("choices", setting_choices(e).unwrap_or_default())],
        ),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            ("clap-invalid-value", vec![("value", value), ("arg", arg)])
        }
        ErrorKind::UnknownArgument => ("clap-unknown-argument", vec![("arg", arg)]),
        ErrorKind::InvalidSubcommand => {
            ("clap-unknown-command", vec![("command", get(ContextKind::InvalidSubcommand))])
        }
        ErrorKind::MissingRequiredArgument => ("clap-missing-argument", vec![("arg", arg)]),
        ErrorKind::ArgumentConflict if get(ContextKind::PriorArg) == arg => ("clap-too-many", vec![("arg", arg)]),
        ErrorKind::ArgumentConflict => ("clap-conflict", vec![("arg", arg), ("other", get(ContextKind::PriorArg))]),
        ErrorKind::TooManyValues => ("clap-too-many", vec![("arg", arg)]),
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
            ("clap-other", vec![("text", first)])
        }
    };
    let args: Vec<(&str, Arg)> = args.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
    let mut out = format!("{} {}", t(lang, "error-prefix", &[]), t(lang, id, &args));
    let rendered = e.render().to_string();
    if let Some(usage) = rendered.lines().find(|l| l.starts_with("Usage:")) {
        out.push_str(&format!("\n\n{}", usage.replacen("Usage:", &t(lang, "clap-usage", &[]), 1)));
    }
    out.push_str(&format!("\n\n{}", t(lang, "clap-help-hint", &[])));
    out
}

fn setting_choices(e: &clap::Error) -> Option<String> {
    use std::error::Error;
    e.source().and_then(|s| s.downcast_ref::<authrelay_core::UnknownSetting>()).map(|u| u.choices.to_string())
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            eprintln!("{}", usage_error(&e, lang_of_args()));
            return ExitCode::from(2);
        }
    };
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
