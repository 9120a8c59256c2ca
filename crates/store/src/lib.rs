//! Where Lifeline's state lives: the event log, versioned keys and leadership.
//!
//! The controller talks to a [`StateStore`] and never to a database directly, so the embedded
//! single-instance default ([`EmbeddedStore`], a local redb file) and the etcd backend
//! ([`EtcdStore`]: leases, compare-and-swap on revisions, watches) are interchangeable behind
//! one trait.

mod embedded;
mod error;
mod etcd;
mod follow;
mod leadership;
mod stamped;
mod store;
mod watch;

pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use etcd::EtcdStore;
pub use follow::{Snapshot, follow};

pub use leadership::{Leadership, Role, leading_token};
pub use stamped::Stamped;
pub use store::{CasOutcome, StateStore, Versioned, Write};
pub use watch::{KeyChange, Watch};
