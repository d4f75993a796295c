//! The rolling 24-hour recipient quota with a test clock: the 10,001st recipient within a day
//! is refused, and the quota frees up as the oldest messages leave the window.

use std::sync::Arc;

use authrelay_core::ManualClock;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_smtp::ledger::Ledger;
use authrelay_smtp::protection::ProtectionConfig;

const T0: i64 = 1_800_000_000;
const USER: &str = "scanner@contoso.com";

#[tokio::test]
async fn the_10001st_recipient_in_24_hours_is_refused() {
    let directory = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
    let now = Arc::new(ManualClock::at_secs(T0));
    let config = ProtectionConfig::default();
    assert_eq!(config.daily_recipients, 10_000, "the documented default");
    let ledger = Ledger::new(directory, now.clone());
    let limit = config.daily_recipients;

    // 20 messages of 500 recipients over 19 hours: 10,000 recipients.
    for i in 0..20 {
        now.set_secs(T0 + i * 3600);
        let left = ledger.recipients_left(USER, limit).await.unwrap();
        assert_eq!(left, limit - (i as u64) * 500);
        ledger.record_recipients(USER, 500).await;
    }
    now.set_secs(T0 + 19 * 3600 + 60);
    // The session refuses RCPT when the transaction already holds `left` recipients: with 0
    // left, the next one — the 10,001st — gets 554 5.2.0.
    assert_eq!(ledger.recipients_left(USER, limit).await, Some(0));
    // Another mailbox is not affected.
    assert_eq!(ledger.recipients_left("other@contoso.com", limit).await, Some(limit));
    // A day after the first message, its 500 recipients leave the window.
    now.set_secs(T0 + 24 * 3600 + 1);
    assert_eq!(ledger.recipients_left(USER, limit).await, Some(500));
    // And a day after the last, the whole quota is back.
    now.set_secs(T0 + 19 * 3600 + 24 * 3600 + 1);
    assert_eq!(ledger.recipients_left(USER, limit).await, Some(limit));
}
