//! The configuration files the harness writes: postgresql.conf additions and pg_hba.conf.
//! Standbys get their `primary_conninfo` from `pg_basebackup -R`, as the manual tells users.

use std::path::Path;

/// The role the failover manager (and the tests) connect as.
pub(crate) const ROLE: &str = "lifeline";

/// Lines appended to a node's postgresql.conf; later lines override earlier ones, so a standby
/// (whose file is a copy of the primary's) appends its own port and socket directory again.
///
/// Without `tuned`, every replication setting keeps PostgreSQL's default, as on a cluster built
/// from the manual; with it, the settings `lifeline doctor` recommends for fast, safe failover.
pub(crate) fn node_conf(port: u16, socket_dir: &Path, tuned: bool, extra: &[String]) -> String {
    let mut conf = format!(
        "\n# --- lifeline testkit ---\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{socket_dir}'\n\
         max_connections = 50\n\
         shared_buffers = '16MB'\n\
         logging_collector = off\n\
         log_line_prefix = '%m [%p] %q%a '\n",
        socket_dir = socket_dir.display(),
    );
    if tuned {
        conf.push_str(TUNED);
    }
    for line in extra {
        conf.push_str(line);
        conf.push('\n');
    }
    conf
}

/// Failover-friendly settings: the primary's silence is noticed within seconds, an old primary
/// can be rewound, and a standby that falls behind for a moment finds its WAL still there.
const TUNED: &str = "\
wal_log_hints = on
wal_keep_size = '64MB'
wal_sender_timeout = '2s'
wal_receiver_timeout = '2s'
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '200ms'
";

/// Trust over the node's own unix socket (the harness's psql), SCRAM passwords over TCP, from
/// loopback and from the test networks' namespaces (10.64.0.0/10, see `netns`), which reach a
/// node whose `listen_addresses` a test extends to a service address.
pub(crate) const HBA: &str = "\
# lifeline testkit
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
host all all 10.64.0.0/10 scram-sha-256
host replication all 10.64.0.0/10 scram-sha-256
";
