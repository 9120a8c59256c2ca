//! The configuration files the harness writes: postgresql.conf additions, pg_hba.conf and the
//! standby's `primary_conninfo`.

use std::path::Path;

/// The role the failover manager (and the tests) connect as.
pub(crate) const ROLE: &str = "lifeline";

/// Lines appended to a node's postgresql.conf; later lines override earlier ones, so a standby
/// (whose file is a copy of the primary's) appends its own port and socket directory again.
/// Without `short_wal_sender_timeout`, `wal_sender_timeout` keeps PostgreSQL's default.
pub(crate) fn node_conf(
    port: u16,
    socket_dir: &Path,
    short_wal_sender_timeout: bool,
    extra: &[String],
) -> String {
    let mut conf = format!(
        "\n# --- lifeline testkit ---\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{socket_dir}'\n\
         max_connections = 50\n\
         shared_buffers = '16MB'\n\
         wal_level = replica\n\
         wal_log_hints = on\n\
         max_wal_senders = 10\n\
         max_replication_slots = 10\n\
         hot_standby = on\n\
         wal_keep_size = '64MB'\n\
         wal_receiver_timeout = '2s'\n\
         wal_receiver_status_interval = '1s'\n\
         wal_retrieve_retry_interval = '200ms'\n\
         logging_collector = off\n\
         log_line_prefix = '%m [%p] %q%a '\n",
        socket_dir = socket_dir.display(),
    );
    if short_wal_sender_timeout {
        conf.push_str("wal_sender_timeout = '2s'\n");
    }
    for line in extra {
        conf.push_str(line);
        conf.push('\n');
    }
    conf
}

/// Trust over the node's own unix socket (the harness's psql), SCRAM passwords over TCP.
pub(crate) const HBA: &str = "\
# lifeline testkit
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
";

/// The line a standby's postgresql.auto.conf gets: stream from `primary_port` as `name`.
///
/// It lives in postgresql.auto.conf so that `ALTER SYSTEM SET primary_conninfo` (how a failover
/// manager re-points a standby) replaces it instead of being shadowed by it.
pub(crate) fn primary_conninfo(primary_port: u16, password: &str, name: &str) -> String {
    format!(
        "primary_conninfo = 'host=127.0.0.1 port={primary_port} user={ROLE} \
         password={password} application_name={name}'\n"
    )
}
