//! Where Lifeline's state lives: the event log, versioned keys and leadership.
//!
//! The controller talks to a [`StateStore`] and never to a database directly, so the embedded
//! single-instance default ([`EmbeddedStore`], a local redb file) and a later etcd backend
//! (leases, compare-and-swap on revisions, watches) are interchangeable behind one trait.

mod embedded;
mod error;
mod store;
mod watch;

pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use store::{CasOutcome, Leadership, StateStore, Versioned};
pub use watch::{KeyChange, Watch};
