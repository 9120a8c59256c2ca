//! The facts query: everything in [`NodeFacts`] in one statement (prepared once per connection,
//! so a probe is one round trip), and how its rows become [`NodeFacts`].

use lifeline_model::{NodeFacts, ReplicaView, WalReceiver};

use crate::literal::conninfo_pairs;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

/// One row per standby in `pg_stat_replication` (or one row with NULL replica columns when there
/// is none), each carrying the node's own facts as well.
///
/// Functions that fail during recovery (`pg_current_wal_lsn`, `pg_walfile_name`) sit behind
/// `CASE` so a standby never evaluates them. LSNs come as bytes from `0/0`. The primary's timeline
/// is read from its WAL file name (parsed in Rust); a standby's is the one its WAL receiver
/// streams, else its last checkpoint's (`received_tli` is visible to superusers and members of
/// `pg_read_all_stats`). The receiver's message age uses `clock_timestamp()`, the time of reading,
/// and is clamped at 0 in Rust. `wal_sender_timeout` comes from `pg_settings` with its unit. The
/// receiver's conninfo (passwords shown as `********`) says the `application_name` it streams
/// under, which is how the primary's `pg_stat_replication` names it.
pub(crate) const FACTS_SQL: &str = "\
SELECT r.in_recovery,
       CASE WHEN r.in_recovery
            THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint END AS wal_lsn,
       CASE WHEN r.in_recovery
            THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END AS replay_lsn,
       CASE WHEN NOT r.in_recovery
            THEN pg_walfile_name(pg_current_wal_lsn()) END AS primary_walfile,
       CASE WHEN r.in_recovery
            THEN (pg_control_checkpoint()).timeline_id END AS checkpoint_timeline,
       w.status AS receiver_status,
       w.sender_host AS receiver_sender_host,
       w.sender_port AS receiver_sender_port,
       (extract(epoch FROM clock_timestamp() - w.last_msg_receipt_time) * 1000)::bigint
           AS receiver_message_age_ms,
       w.received_tli AS receiver_timeline,
       w.conninfo AS receiver_conninfo,
       pg_wal_lsn_diff(w.flushed_lsn, '0/0')::bigint AS receiver_flushed_lsn,
       current_setting('synchronous_standby_names') AS synchronous_standby_names,
       s.setting AS wal_sender_timeout,
       s.unit AS wal_sender_timeout_unit,
       current_setting('default_transaction_read_only')::bool AS read_only,
       rep.application_name AS replica_name,
       rep.state AS replica_state,
       rep.sync_state AS replica_sync_state,
       pg_wal_lsn_diff(rep.flush_lsn, '0/0')::bigint AS replica_flush_lsn,
       pg_wal_lsn_diff(rep.replay_lsn, '0/0')::bigint AS replica_replay_lsn
FROM (SELECT pg_is_in_recovery() AS in_recovery) AS r
LEFT JOIN pg_stat_wal_receiver AS w ON true
LEFT JOIN pg_settings AS s ON s.name = 'wal_sender_timeout'
LEFT JOIN pg_stat_replication AS rep ON true
ORDER BY rep.application_name, rep.pid";

/// The facts in the rows of [`FACTS_SQL`]; `Err` says what was unexpected.
pub(crate) fn facts_from_rows(rows: &[Row]) -> Result<NodeFacts, String> {
    let first = rows.first().ok_or("the facts query returned no row")?;
    let in_recovery: bool = get(first, "in_recovery")?;
    let timeline = if in_recovery {
        let received: Option<i32> = get(first, "receiver_timeline")?;
        let checkpoint: Option<i32> = get(first, "checkpoint_timeline")?;
        received
            .or(checkpoint)
            .and_then(|timeline| u32::try_from(timeline).ok())
    } else {
        let walfile: Option<String> = get(first, "primary_walfile")?;
        walfile.as_deref().and_then(timeline_of_walfile)
    };
    let setting: Option<String> = get(first, "wal_sender_timeout")?;
    let unit: Option<String> = get(first, "wal_sender_timeout_unit")?;
    let mut replicas = Vec::new();
    for row in rows {
        if let Some(replica) = replica_from_row(row)? {
            replicas.push(replica);
        }
    }
    Ok(NodeFacts {
        in_recovery,
        timeline,
        wal_lsn: lsn(first, "wal_lsn")?,
        replay_lsn: lsn(first, "replay_lsn")?,
        receiver: receiver_from_row(first)?,
        replicas,
        synchronous_standby_names: get(first, "synchronous_standby_names")?,
        wal_sender_timeout_ms: setting
            .as_deref()
            .and_then(|setting| setting_millis(setting, unit.as_deref())),
        read_only: get(first, "read_only")?,
    })
}

fn receiver_from_row(row: &Row) -> Result<Option<WalReceiver>, String> {
    let Some(status) = get::<Option<String>>(row, "receiver_status")? else {
        return Ok(None);
    };
    let port: Option<i32> = get(row, "receiver_sender_port")?;
    let age: Option<i64> = get(row, "receiver_message_age_ms")?;
    let timeline: Option<i32> = get(row, "receiver_timeline")?;
    Ok(Some(WalReceiver {
        status,
        sender_host: get(row, "receiver_sender_host")?,
        sender_port: port.and_then(|port| u16::try_from(port).ok()),
        last_message_age_ms: age.map(|age| age.max(0).unsigned_abs()),
        received_timeline: timeline.and_then(|timeline| u32::try_from(timeline).ok()),
        flushed_lsn: lsn(row, "receiver_flushed_lsn")?,
        application_name: get::<Option<String>>(row, "receiver_conninfo")?
            .as_deref()
            .and_then(streams_as),
    }))
}

/// The `application_name` a WAL receiver connects with, from its conninfo: its own
/// `application_name`, else the `fallback_application_name` the server gives it (`cluster_name`,
/// or `walreceiver`).
fn streams_as(conninfo: &str) -> Option<String> {
    let pairs = conninfo_pairs(conninfo);
    let value = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    value("application_name").or_else(|| value("fallback_application_name"))
}

fn replica_from_row(row: &Row) -> Result<Option<ReplicaView>, String> {
    let Some(application_name) = get::<Option<String>>(row, "replica_name")? else {
        return Ok(None);
    };
    let text = |column: &str| -> Result<String, String> {
        Ok(get::<Option<String>>(row, column)?.unwrap_or_default())
    };
    Ok(Some(ReplicaView {
        application_name,
        state: text("replica_state")?,
        sync_state: text("replica_sync_state")?,
        flush_lsn: lsn(row, "replica_flush_lsn")?,
        replay_lsn: lsn(row, "replica_replay_lsn")?,
    }))
}

/// A column of the facts row, or a message naming it.
fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> Result<T, String> {
    row.try_get(column)
        .map_err(|err| format!("unexpected facts column {column}: {err}"))
}

/// An LSN column (bytes from `0/0`, as a bigint).
fn lsn(row: &Row, column: &str) -> Result<Option<u64>, String> {
    let bytes: Option<i64> = get(row, column)?;
    Ok(bytes.and_then(|bytes| u64::try_from(bytes).ok()))
}

/// The timeline in a WAL file name: its first 8 hex digits (`000000020000000000000003` -> 2).
pub(crate) fn timeline_of_walfile(name: &str) -> Option<u32> {
    name.get(..8)
        .and_then(|digits| u32::from_str_radix(digits, 16).ok())
}

/// A time setting from `pg_settings` in milliseconds: `setting` counts `unit`s (`ms`, `s`, `min`,
/// `h`, `d`, possibly with a multiplier such as `10ms`). `None` when unknown, and for 0, which
/// means "disabled" for timeouts.
fn setting_millis(setting: &str, unit: Option<&str>) -> Option<u64> {
    let value: u64 = setting.trim().parse().ok()?;
    let unit = unit.unwrap_or("ms");
    let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (multiplier, name) = unit.split_at(digits);
    let multiplier: u64 = if multiplier.is_empty() {
        1
    } else {
        multiplier.parse().ok()?
    };
    let unit_ms = match name {
        "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    value
        .checked_mul(multiplier)?
        .checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_timeline_from_a_wal_file_name() {
        assert_eq!(timeline_of_walfile("000000010000000000000001"), Some(1));
        assert_eq!(timeline_of_walfile("0000000A00000000000000FF"), Some(10));
        assert_eq!(timeline_of_walfile("xyz"), None);
        assert_eq!(timeline_of_walfile("zzzzzzzz0000"), None);
    }

    #[test]
    fn reads_the_name_a_receiver_streams_under() {
        let basebackup = "user=lifeline password=******** channel_binding=prefer dbname=replication \
                          host=127.0.0.1 port=5432 fallback_application_name=walreceiver sslmode=prefer";
        assert_eq!(streams_as(basebackup).as_deref(), Some("walreceiver"));
        let named = "host=h port=1 application_name=pg2 fallback_application_name=walreceiver";
        assert_eq!(streams_as(named).as_deref(), Some("pg2"));
        let quoted = r"host=h application_name='pg \'2\'' fallback_application_name=main";
        assert_eq!(streams_as(quoted).as_deref(), Some("pg '2'"));
        assert_eq!(streams_as("host=h").as_deref(), None);
        assert_eq!(streams_as("").as_deref(), None);
    }

    #[test]
    fn converts_time_settings_by_unit() {
        assert_eq!(setting_millis("2000", Some("ms")), Some(2000));
        assert_eq!(setting_millis("60", Some("s")), Some(60_000));
        assert_eq!(setting_millis("2", Some("min")), Some(120_000));
        assert_eq!(setting_millis("3", Some("10ms")), Some(30));
        assert_eq!(setting_millis("5", None), Some(5));
        assert_eq!(setting_millis("0", Some("ms")), None);
        assert_eq!(setting_millis("8", Some("kB")), None);
        assert_eq!(setting_millis("x", Some("ms")), None);
    }
}
