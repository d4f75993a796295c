//! `authrelay queue retry|hold|release|delete`, the delivery state in `queue list|show`, and
//! `authrelay dkim generate`. Requests to a running server go through marker files the queue
//! manager reads (crates/delivery `state.rs`), so these work with the server up or down.

use std::collections::BTreeMap;

use authrelay_core::QueueId;
use authrelay_delivery::dkim::{self, Algorithm, DkimError};
use authrelay_delivery::queue_admin::{Entry, QueueAdmin};
use authrelay_i18n::{t, Arg, Lang};
use authrelay_spool::SpoolError;

use crate::cli::DkimCommand;
use crate::output::{say, when, CliError};
use authrelay_config::Effective;

/// The queue the configuration names: this data directory's spool (with delivery's state
/// beside it), or the cluster's shared queue when the store is PostgreSQL.
pub async fn open_queue(config: &Effective) -> Result<QueueAdmin, CliError> {
    if let Some(queue) = crate::store::open_queue(config).await? {
        return Ok(QueueAdmin::Shared(queue));
    }
    let spool = authrelay_spool::Spool::attach(&config.spool_path())
        .map_err(|e| CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", e))?;
    QueueAdmin::local(spool)
        .map_err(|e| CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", e))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The message of a queue state word (`MessageState::summary`, "held", "new").
pub(crate) fn state_id(word: &str) -> &'static str {
    authrelay_i18n::values::queue_state_id(word).unwrap_or("queue-state-new")
}

fn label(lang: Lang, word: &str) -> String {
    t(lang, state_id(word), &[])
}

pub(crate) fn queue_error(queue: &QueueAdmin, id: &str, e: SpoolError) -> CliError {
    match e {
        SpoolError::NotFound(_) => CliError::new("err-queue-not-found").arg("id", id).usage(),
        other => match queue.spool() {
            Some(spool) => CliError::new("err-spool").arg("path", spool.root().display()).arg("reason", other),
            None => CliError::new("err-shared-queue").arg("reason", other),
        },
    }
}

/// `queue list`: one line per message with its state, then counts per state. With `--json`
/// each entry also carries `state` and `recipients` (per-recipient status), and in a cluster
/// `claimed_by` (the node delivering it now).
pub async fn list(queue: &QueueAdmin, json: bool, lang: Lang) -> Result<(), CliError> {
    let listing = queue.list(now_ms()).await.map_err(|e| queue_error(queue, "", e))?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut out = vec![];
    let mut rows = vec![];
    for Entry { message: m, word, state, claimed_by } in &listing.entries {
        *counts.entry(word).or_default() += 1;
        if json {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["state"] = serde_json::Value::from(*word);
            if let Some(s) = &state {
                v["recipients"] = serde_json::to_value(&s.recipients).unwrap_or_default();
            }
            if let Some(node) = claimed_by {
                v["claimed_by"] = serde_json::Value::from(node.as_str());
            }
            out.push(v);
        } else {
            rows.push(vec![
                m.id.to_string(),
                when(lang, Some(m.queued_at)),
                authrelay_i18n::size(lang, m.size),
                label(lang, word),
                format!(
                    "{} -> {}",
                    if m.envelope.mail_from.is_empty() { "<>" } else { &m.envelope.mail_from },
                    m.envelope.rcpt_to.join(", ")
                ),
            ]);
        }
    }
    if !rows.is_empty() {
        let header = ["col-id", "col-time", "col-size", "col-state", "col-envelope"].map(|id| t(lang, id, &[]));
        crate::output::table(&header, &rows);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        say(lang, "queue-count", &[("count", Arg::from(listing.entries.len()))]);
        if !counts.is_empty() {
            let summary: Vec<String> = counts.iter().map(|(w, n)| format!("{} {n}", label(lang, w))).collect();
            say(lang, "queue-state-counts", &[("summary", Arg::Str(&summary.join(", ")))]);
        }
    }
    for bad in &listing.corrupt {
        eprintln!("{}", t(lang, "queue-corrupt", &[("reason", Arg::Str(bad))]));
    }
    Ok(())
}

/// `queue show`: the delivery state of each recipient.
pub fn print_state(entry: &Entry, lang: Lang) {
    println!("{}", label(lang, entry.word));
    if let Some(s) = &entry.state {
        say(lang, "queue-recipients", &[]);
        for r in &s.recipients {
            println!(
                "  {}  {:?}  attempts={}  next={}  {}",
                r.address,
                r.status,
                r.attempts,
                when(lang, Some(r.next_attempt.max(s.not_before) / 1000)),
                r.last_reply.as_deref().unwrap_or("-")
            );
        }
    }
}

fn parse_id(id: &str) -> Result<QueueId, CliError> {
    QueueId::parse(id).ok_or_else(|| CliError::new("err-bad-queue-id").arg("id", id).usage())
}

pub async fn retry(queue: &QueueAdmin, id: Option<String>, all: bool, lang: Lang) -> Result<(), CliError> {
    if all {
        let listing = queue.list(now_ms()).await.map_err(|e| queue_error(queue, "", e))?;
        for e in &listing.entries {
            match queue.retry(&e.message.id).await {
                // Delivered meanwhile: nothing to retry.
                Ok(()) | Err(SpoolError::NotFound(_)) => {}
                Err(err) => return Err(queue_error(queue, e.message.id.as_str(), err)),
            }
        }
        say(lang, "queue-retry-all", &[("count", Arg::from(listing.entries.len()))]);
        return Ok(());
    }
    let id = id.unwrap_or_default();
    let qid = parse_id(&id)?;
    queue.retry(&qid).await.map_err(|e| queue_error(queue, &id, e))?;
    say(lang, "queue-retry-requested", &[("id", Arg::Str(qid.as_str()))]);
    Ok(())
}

pub async fn hold(queue: &QueueAdmin, id: &str, held: bool, lang: Lang) -> Result<(), CliError> {
    let qid = parse_id(id)?;
    queue.set_held(&qid, held).await.map_err(|e| queue_error(queue, id, e))?;
    say(lang, if held { "queue-held" } else { "queue-released" }, &[("id", Arg::Str(qid.as_str()))]);
    Ok(())
}

pub async fn delete(queue: &QueueAdmin, id: &str, lang: Lang) -> Result<(), CliError> {
    let qid = parse_id(id)?;
    queue.delete(&qid).await.map_err(|e| queue_error(queue, id, e))?;
    say(lang, "queue-deleted", &[("id", Arg::Str(qid.as_str()))]);
    Ok(())
}

pub fn dkim(c: DkimCommand, config: &Effective, lang: Lang) -> Result<(), CliError> {
    let DkimCommand::Generate { domain, algorithm, selector, json } = c;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if !authrelay_core::address::is_domain(&domain) || !domain.contains('.') {
        return Err(CliError::new("err-bad-domain").arg("domain", &domain).usage());
    }
    let alg: Algorithm =
        algorithm.parse().map_err(|_| CliError::new("err-dkim-algorithm").arg("algorithm", &algorithm).usage())?;
    let selector = selector.unwrap_or_else(|| {
        let today = time::OffsetDateTime::now_utc().date();
        format!("{}-{:04}{:02}{:02}", alg.as_str(), today.year(), today.month() as u8, today.day())
    });
    let made = dkim::generate(&config.data_dir, &domain, alg, &selector).map_err(|e| match e {
        DkimError::Exists { selector, path } => CliError::new("err-dkim-exists")
            .arg("selector", selector)
            .arg("domain", &domain)
            .arg("path", path.display())
            .usage(),
        DkimError::BadSelector(s) => CliError::new("err-dkim-bad-selector").arg("selector", s).usage(),
        other => CliError::new("err-dkim").arg("reason", other),
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&made).unwrap_or_default());
        return Ok(());
    }
    say(
        lang,
        "dkim-generated",
        &[
            ("algorithm", Arg::Str(alg.as_str())),
            ("domain", Arg::Str(&domain)),
            ("selector", Arg::Str(&made.selector)),
            ("path", Arg::Str(&made.path.display().to_string())),
        ],
    );
    say(lang, "dkim-publish", &[("domain", Arg::Str(&domain))]);
    println!();
    println!("{} IN TXT \"{}\"", made.record_name, made.record_value);
    Ok(())
}
