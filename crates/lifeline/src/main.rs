//! `lifeline`: the daemon and its command-line client. Exit codes: 0 success, 2 bad config or
//! usage, 1 runtime failure.

mod cli;
mod client;
mod daemon;
mod demo;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    install_crypto_provider();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Run(args) = &cli.command
        && let Some(threads) = args.threads
    {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run(args) => daemon::run(&args.config.config).await,
            Command::Check(args) => daemon::check(&args.config),
            Command::Status(args) => client::status(&args).await,
            Command::Events(args) => client::events(&args).await,
            Command::Reload(args) => client::reload(&args).await,
            Command::Force(args) => client::force(&args).await,
            Command::Drain(args) => client::drain(&args, true).await,
            Command::Undrain(args) => client::drain(&args, false).await,
            Command::Origin(args) => client::origin(&args).await,
            Command::Demo => demo::run().await,
        }
    })
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
