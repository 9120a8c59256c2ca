//! The command line, declared with clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lifeline",
    version,
    about = "Keeps a service reachable when parts of it fail"
)]
pub struct Cli {
    /// Log lines for people, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "LIFELINE_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run(RunArgs),
    /// See Lifeline work: origins fail and recover under a steady stream of requests.
    Demo(DemoArgs),
    /// Validate a config file: exit 0, or 2 with every problem found.
    Check(ConfigArgs),
    /// Connect to every node of every cluster and report what makes failover slow or unsafe,
    /// each with its fix: exit 0 when all is well, 1 with findings, 2 for a bad config.
    Doctor(ConfigArgs),
    /// Show every pool and origin of a running daemon.
    Status(StatusArgs),
    /// Show a running daemon's event log.
    Events(EventsArgs),
    /// Make a running daemon re-read its config file.
    Reload(ReloadArgs),
    /// Pin a load balancer to a pool (or `--origin`), or `--clear` the pin.
    Force(ForceArgs),
    /// Promote a standby of a cluster (a switchover if the primary is healthy).
    Failover(FailoverArgs),
    /// Planned switchover of a cluster: writes pause, nothing is lost.
    Switchover(SwitchoverArgs),
    /// Stop sending new requests to an origin; in-flight ones finish.
    Drain(DrainArgs),
    /// Send requests to a drained origin again.
    Undrain(DrainArgs),
    /// Run a small HTTP origin (for trying configs, the demo and the benchmarks).
    Origin(OriginArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Worker threads for the data plane and everything else (default: one per core); 1 to 1024.
    #[arg(long, env = "LIFELINE_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Start with an empty state store, for a damaged state file or to start over: the state
    /// file, whatever its state, is first moved aside to `<file>.reset-<unix time>`. The
    /// drains, pins and event log it held are not carried over.
    #[arg(long)]
    pub reset_state: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file.
    #[arg(short, long, default_value = "lifeline.toml", env = "LIFELINE_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The daemon's admin API.
    #[arg(long, default_value = "http://127.0.0.1:9090", env = "LIFELINE_ADMIN")]
    pub admin: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Print the JSON the admin API returned instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Only events after this sequence number.
    #[arg(long)]
    pub since: Option<u64>,
    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the JSON the admin API returned instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub token: TokenArgs,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The admin token (better given through the environment than on the command line).
    #[arg(long, env = "LIFELINE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ForceArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    /// The load balancer.
    pub load_balancer: String,
    /// The pool to pin it to.
    #[arg(required_unless_present_any = ["origin", "clear"], conflicts_with_all = ["origin", "clear"])]
    pub pool: Option<String>,
    /// Pin it to one origin instead of a pool.
    #[arg(long, conflicts_with = "clear")]
    pub origin: Option<String>,
    /// Remove the pin.
    #[arg(long)]
    pub clear: bool,
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    /// The cluster.
    pub cluster: String,
    /// The standby to promote (default: the best one).
    #[arg(long)]
    pub to: Option<String>,
    /// Promote even if the standby may lack acknowledged writes.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    /// The cluster.
    pub cluster: String,
    /// The standby to promote (default: the best one).
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    /// The origin.
    pub origin: String,
}

#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// The name it reports in its answers.
    #[arg(long, default_value = "origin")]
    pub name: String,
    /// Serve this many origins on consecutive ports from `--listen`, named NAME0, NAME1, ...
    /// (for benchmarks with many origins in one process).
    #[arg(long, default_value_t = 1)]
    pub count: u16,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Three instances on a local etcd instead: the leader is killed under traffic and
    /// another takes over.
    #[arg(long)]
    pub ha: bool,
}
