//! `authrelay queue retry|hold|release|delete`, the delivery state in `queue list|show`, and
//! `authrelay dkim generate`. Requests to a running server go through marker files the queue
//! manager reads (crates/delivery `state.rs`), so these work with the server up or down.

use std::collections::BTreeMap;

use authrelay_core::QueueId;
use authrelay_delivery::dkim::{self, Algorithm, DkimError};
use authrelay_delivery::state::{MessageState, StateStore};
use authrelay_i18n::{t, Arg, Lang};
use authrelay_spool::{QueuedMessage, Spool, SpoolError};

use crate::cli::DkimCommand;
use crate::output::{say, when, CliError};
use authrelay_config::Effective;

/// Delivery's state store: `<data_dir>/delivery`, beside the spool (`<data_dir>/spool`, see
/// `Effective::spool_path`); state an earlier version left in the spool moves there first.
fn store(spool: &Spool) -> Result<StateStore, CliError> {
    let data_dir = spool.root().parent().unwrap_or(spool.root());
    let dir = authrelay_delivery::state::delivery_dir(data_dir);
    StateStore::open(&dir, Some(spool.root()))
        .map_err(|e| CliError::new("err-spool").arg("path", dir.display()).arg("reason", e))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The state word of one message (`new` before the manager has seen it).
fn state_word(store: &StateStore, id: &QueueId) -> (&'static str, Option<MessageState>) {
    store.describe(id, now_ms())
}

/// The message of a queue state word (`MessageState::summary`, "held", "new").
pub(crate) fn state_id(word: &str) -> &'static str {
    authrelay_i18n::values::queue_state_id(word).unwrap_or("queue-state-new")
}

fn label(lang: Lang, word: &str) -> String {
    t(lang, state_id(word), &[])
}

/// `queue list`: one line per message with its state, then counts per state. With `--json`
/// each entry also carries `state` and `recipients` (per-recipient status).
pub fn list(spool: &Spool, messages: &[QueuedMessage], json: bool, lang: Lang) -> Result<(), CliError> {
    let store = store(spool)?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut out = vec![];
    let mut rows = vec![];
    for m in messages {
        let (word, state) = state_word(&store, &m.id);
        *counts.entry(word).or_default() += 1;
        if json {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["state"] = serde_json::Value::from(word);
            if let Some(s) = &state {
                v["recipients"] = serde_json::to_value(&s.recipients).unwrap_or_default();
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
        say(lang, "queue-count", &[("count", Arg::from(messages.len()))]);
        if !counts.is_empty() {
            let summary: Vec<String> = counts.iter().map(|(w, n)| format!("{} {n}", label(lang, w))).collect();
            say(lang, "queue-state-counts", &[("summary", Arg::Str(&summary.join(", ")))]);
        }
    }
    Ok(())
}

/// `queue show`: the delivery state of each recipient.
pub fn print_state(spool: &Spool, id: &QueueId, lang: Lang) -> Result<(), CliError> {
    let store = store(spool)?;
    let (word, state) = state_word(&store, id);
    println!("{}", label(lang, word));
    if let Some(s) = state {
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
    Ok(())
}

fn existing(spool: &Spool, id: &str) -> Result<QueueId, CliError> {
    let qid = QueueId::parse(id).ok_or_else(|| CliError::new("err-bad-queue-id").arg("id", id).usage())?;
    let listed =
        spool.list().map_err(|e| CliError::new("err-spool").arg("path", spool.root().display()).arg("reason", e))?;
    if !listed.iter().any(|m| m.id == qid) {
        return Err(CliError::new("err-queue-not-found").arg("id", id).usage());
    }
    Ok(qid)
}

fn io_error(spool: &Spool, e: impl ToString) -> CliError {
    CliError::new("err-spool").arg("path", spool.root().display()).arg("reason", e.to_string())
}

pub fn retry(spool: &Spool, id: Option<String>, all: bool, lang: Lang) -> Result<(), CliError> {
    let store = store(spool)?;
    if all {
        let messages = spool.list().map_err(|e| io_error(spool, e))?;
        for m in &messages {
            store.request_retry(&m.id).map_err(|e| io_error(spool, e))?;
        }
        say(lang, "queue-retry-all", &[("count", Arg::from(messages.len()))]);
        return Ok(());
    }
    let id = id.unwrap_or_default();
    let qid = existing(spool, &id)?;
    store.request_retry(&qid).map_err(|e| io_error(spool, e))?;
    say(lang, "queue-retry-requested", &[("id", Arg::Str(qid.as_str()))]);
    Ok(())
}

pub fn hold(spool: &Spool, id: &str, held: bool, lang: Lang) -> Result<(), CliError> {
    let store = store(spool)?;
    let qid = existing(spool, id)?;
    store.set_held(&qid, held).map_err(|e| io_error(spool, e))?;
    say(lang, if held { "queue-held" } else { "queue-released" }, &[("id", Arg::Str(qid.as_str()))]);
    Ok(())
}

pub fn delete(spool: &Spool, id: &str, lang: Lang) -> Result<(), CliError> {
    let store = store(spool)?;
    let qid = QueueId::parse(id).ok_or_else(|| CliError::new("err-bad-queue-id").arg("id", id).usage())?;
    match spool.remove(&qid) {
        Ok(()) => {}
        Err(SpoolError::NotFound(_)) => return Err(CliError::new("err-queue-not-found").arg("id", id).usage()),
        Err(e) => return Err(io_error(spool, e)),
    }
    store.remove(&qid).map_err(|e| io_error(spool, e))?;
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
