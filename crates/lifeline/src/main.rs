//! `lifeline`: the daemon and its command-line client. Exit codes: 0 success, 2 bad config or
//! usage, 1 runtime failure.

mod cli;
mod client;
mod daemon;
mod demo;
mod doctor;
mod drivers;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc rather than the system allocator: the data plane allocates and frees small objects
/// for every request (header maps, buffers, futures), which mimalloc does with less work and
/// better locality: about a tenth less user-space time per proxied request (bench/http-proxy.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    install_crypto_provider();
    let threads = match &cli.command {
        Command::Run(args) => args.threads,
        _ => None,
    };
    let runtime = match runtime_builder(threads).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run(args) => daemon::run(&args.config.config, args.reset_state).await,
            Command::Check(args) => daemon::check(&args.config),
            Command::Doctor(args) => doctor::run(&args.config).await,
            Command::Status(args) => client::status(&args).await,
            Command::Events(args) => client::events(&args).await,
            Command::Reload(args) => client::reload(&args).await,
            Command::Force(args) => client::force(&args).await,
            Command::Failover(args) => client::failover(&args).await,
            Command::Switchover(args) => client::switchover(&args).await,
            Command::Drain(args) => client::drain(&args, true).await,
            Command::Undrain(args) => client::drain(&args, false).await,
            Command::Origin(args) => client::origin(&args).await,
            Command::Demo(args) => demo::run(args.ha).await,
        }
    })
}

/// `--threads 1` runs every task on the main thread (a current-thread runtime: no work stealing,
/// no cross-thread wake-ups, which makes one thread faster than a one-worker multi-thread runtime);
/// more threads, or none given (one per core), make a multi-thread runtime. Blocking work
/// (`spawn_blocking`, used by the state store) has its own threads either way.
fn runtime_builder(threads: Option<u16>) -> tokio::runtime::Builder {
    match threads.map(|threads| usize::from(threads.max(1))) {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
}

/// TLS (https monitors, the client) uses rustls with the `ring` provider, installed once for the
/// whole process.
fn install_crypto_provider() {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
}
