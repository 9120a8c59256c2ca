//! A small configurable HTTP/1.1 origin for the demo, the tests and the benchmarks.
//!
//! Each origin answers `GET /health` with a JSON verdict, and everything else with
//! `origin NAME`. What `/health` answers (status, delay, body) can be changed at run time with
//! `POST /_control?status=500&delay_ms=3000`, which is how tests make an origin fail or hang
//! without restarting it. Routes:
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | the current [`Behaviour`]: its status after its delay, with `{"status":"healthy"\|"unhealthy","origin":NAME,"host":HOST}` unless the body is overridden |
//! | `GET /_control` | the current behaviour as JSON, at once |
//! | `POST /_control?status=&delay_ms=&body=&reset=1` | changes the behaviour (every parameter optional, `reset=1` applied first) and answers it as JSON, at once; 400 for a bad parameter |
//! | `GET /redirect` | `302` to `/health`, after the delay |
//! | anything else | `200 origin NAME\n`, after the delay |
//!
//! Every response carries `x-served-by: NAME`. Connections are kept alive. One [`serve`] call
//! runs one origin on one listener; [`serve_many`] runs many (a benchmark's 1,000) in one
//! process. Stopping an origin closes its listener and every open connection at once, as a
//! process that exits would.

mod behaviour;
mod routes;
mod server;

pub use behaviour::Behaviour;
pub use server::{serve, serve_many, serve_with};
