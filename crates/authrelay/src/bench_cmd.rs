//! `authrelay bench`: runs the load generator (crates/bench) or a queue-scale measurement and
//! prints the figures through the catalogue. The last line of a load run, `N accepted, M
//! failed, X msg/s`, is a fixed English contract that scripts parse, like SMTP replies.

use std::time::Duration;

use authrelay_bench::{queue_scale, BenchError, Config, Report, TlsMode};
use authrelay_i18n::{t, Arg, Lang};

use crate::cli::{BenchArgs, BenchQueueCommand};
use crate::output::{field, say, CliError};
use authrelay_config::Effective;

pub async fn run(args: BenchArgs, effective: &Effective, lang: Lang) -> Result<(), CliError> {
    match args.queue {
        Some(BenchQueueCommand::QueueFill { count, size, concurrency }) => {
            let path = effective.spool_path();
            let filled = queue_scale::fill(&path, count, size, concurrency)
                .await
                .map_err(|e| CliError::new("err-spool").arg("path", path.display()).arg("reason", e))?;
            let secs = filled.elapsed.as_secs_f64();
            let rate = if secs > 0.0 { filled.messages as f64 / secs } else { 0.0 };
            say(
                lang,
                "bench-queue-filled",
                &[
                    ("count", Arg::Str(&filled.messages.to_string())),
                    ("secs", Arg::Str(&format!("{secs:.1}"))),
                    ("rate", Arg::Str(&format!("{rate:.0}"))),
                    ("path", Arg::Str(&path.display().to_string())),
                ],
            );
            Ok(())
        }
        Some(BenchQueueCommand::QueueRecover) => {
            let path = effective.spool_path();
            let r = queue_scale::recover(&path)
                .map_err(|e| CliError::new("err-spool").arg("path", path.display()).arg("reason", e))?;
            say(lang, "bench-queue-recovered", &[("path", Arg::Str(&path.display().to_string()))]);
            field(&t(lang, "bench-label-queued", &[]), r.messages);
            field(&t(lang, "bench-label-open", &[]), ms(r.open));
            field(&t(lang, "bench-label-scan", &[]), ms(r.scan));
            field(&t(lang, "bench-label-rss", &[]), mib(r.rss_kib));
            field(&t(lang, "bench-label-peak-rss", &[]), mib(r.peak_rss_kib));
            Ok(())
        }
        Some(BenchQueueCommand::AuthFlood {
            server,
            tls,
            attempts,
            sources,
            domain,
            user,
            password,
            pid,
            time_limit,
        }) => {
            let server = authrelay_bench::resolve_loopback(&server).map_err(bench_error)?;
            let pid = pid.or_else(|| listen_pid(effective));
            let config = authrelay_bench::auth_flood::FloodConfig {
                server,
                tls,
                attempts,
                sources,
                domain,
                real: user.zip(password),
                pid,
                time_limit: Duration::from_secs(time_limit),
            };
            say(
                lang,
                "bench-flood-start",
                &[
                    ("server", Arg::Str(&server.to_string())),
                    ("attempts", Arg::Str(&attempts.to_string())),
                    ("sources", Arg::Str(&sources.to_string())),
                ],
            );
            let real = config.real.is_some();
            let r = authrelay_bench::auth_flood::run(config).await.map_err(bench_error)?;
            print_flood(&r, lang, pid.is_some(), real);
            Ok(())
        }
        None => load(args, lang).await,
    }
}

/// The running server's pid, from `<data_dir>/listen.json`.
fn listen_pid(effective: &Effective) -> Option<u32> {
    let text = std::fs::read_to_string(effective.data_dir.join("listen.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
}

fn print_flood(r: &authrelay_bench::auth_flood::FloodReport, lang: Lang, memory: bool, real: bool) {
    let label = |id: &str| t(lang, id, &[]);
    field(&label("bench-label-elapsed"), format!("{:.2} s", r.elapsed.as_secs_f64()));
    say(lang, "bench-flood-replies", &[]);
    for (reply, count) in &r.replies {
        println!("  {count:>8}  {reply}");
    }
    if memory {
        field(&label("bench-label-rss-before"), mib(r.rss_before_kib));
        field(&label("bench-label-rss-max"), mib(r.rss_max_sampled_kib));
        field(&label("bench-label-peak-rss"), mib(r.rss_peak_kib));
    }
    if real {
        let mut l = r.real_signed_in.clone();
        l.sort();
        field(&label("bench-label-real-signed-in"), l.len());
        if let (Some(first), Some(max)) = (r.real_signed_in.first(), l.last()) {
            field(
                &label("bench-label-real-latency"),
                format!("{} / {} / {}", ms(*first), ms(l[l.len() / 2]), ms(*max)),
            );
        }
        for (reply, count) in &r.real_refused {
            println!("  {count:>8}  {reply}");
        }
    }
}

async fn load(args: BenchArgs, lang: Lang) -> Result<(), CliError> {
    let Some(server) = args.server.as_deref() else {
        return Err(CliError::new("err-bench-no-server").usage());
    };
    let server = authrelay_bench::resolve_loopback(server).map_err(bench_error)?;
    let mut config = Config::new(server);
    config.tls = args.tls;
    config.credentials = args.user.zip(args.password);
    config.connections = args.connections;
    config.messages = args.messages;
    config.per_session = args.per_session;
    config.size = args.size;
    config.pipelining = args.pipelining;
    config.mail_from = args.from;
    config.rcpt_to = args.to;
    config.time_limit = Duration::from_secs(args.time_limit);
    config.hold = args.hold.map(Duration::from_secs);

    let tls = match config.tls {
        TlsMode::None => "none",
        TlsMode::StartTls => "starttls",
        TlsMode::Implicit => "implicit",
    };
    let hold = config.hold;
    if let Some(hold) = hold {
        say(
            lang,
            "bench-hold-start",
            &[
                ("connections", Arg::Str(&config.connections.to_string())),
                ("server", Arg::Str(&server.to_string())),
                ("secs", Arg::Str(&hold.as_secs().to_string())),
            ],
        );
    } else {
        say(
            lang,
            "bench-start",
            &[
                ("server", Arg::Str(&server.to_string())),
                ("tls", Arg::Str(tls)),
                ("connections", Arg::Str(&config.connections.to_string())),
                ("messages", Arg::Str(&config.messages.to_string())),
                ("size", Arg::Str(&config.size.to_string())),
                ("per_session", Arg::Str(&config.per_session.to_string())),
            ],
        );
    }
    let total = config.messages;
    let report = authrelay_bench::run(config).await.map_err(bench_error)?;
    print_report(&report, lang, hold.is_some());
    if hold.is_some() {
        if report.session_failures > 0 {
            return Err(CliError::new("err-bench-sessions-failed")
                .arg("failed", report.session_failures)
                .arg("total", report.sessions + report.session_failures));
        }
        return Ok(());
    }
    println!("{}", report.summary_line());
    if report.failed > 0 {
        return Err(CliError::new("err-bench-failures").arg("failed", report.failed).arg("total", total));
    }
    Ok(())
}

fn print_report(r: &Report, lang: Lang, hold: bool) {
    let label = |id: &str| t(lang, id, &[]);
    if !hold {
        field(&label("bench-label-accepted"), r.accepted);
        field(&label("bench-label-failed"), r.failed);
    }
    field(&label("bench-label-elapsed"), format!("{:.2} s", r.elapsed.as_secs_f64()));
    if !hold {
        field(&label("bench-label-msgs-per-sec"), format!("{:.1}", r.messages_per_sec()));
    }
    field(&label("bench-label-sessions"), r.sessions);
    field(&label("bench-label-sessions-per-sec"), format!("{:.1}", r.sessions_per_sec()));
    field(&label("bench-label-resumed"), r.resumed_tls);
    if !hold {
        let l = r.latency;
        field(&label("bench-label-latency"), format!("{} / {} / {} / {}", ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)));
    }
    if !r.replies.is_empty() {
        say(lang, "bench-replies", &[]);
        for (reply, count) in &r.replies {
            println!("  {count:>8}  {reply}");
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn bench_error(e: BenchError) -> CliError {
    match e {
        BenchError::NotLoopback(address) => CliError::new("err-bench-not-loopback").arg("address", address).usage(),
        BenchError::Unresolvable(server) => CliError::new("err-bench-unresolvable").arg("server", server).usage(),
        BenchError::Zero(flag) => CliError::new("err-bench-zero").arg("flag", flag).usage(),
    }
}
