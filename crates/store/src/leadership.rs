//! Leadership that can be lost: the token a leader acts with, and the signal that it is gone.
//!
//! A leader must stop deciding the moment its lease is gone, so losing it is a signal the
//! controller waits on (like the `Done()` channel of etcd's concurrency session), not something
//! it polls. Guarded writes refuse a stale token anyway, so the window before it notices is safe.

use tokio::sync::watch;

/// This instance's current leadership, or `None` while it follows. The daemon's campaign
/// keeps it current; every part that acts only as leader watches it.
pub type Role = watch::Receiver<Option<Leadership>>;

/// The token of `role`'s leadership while it holds.
pub fn leading_token(role: &Role) -> Option<u64> {
    role.borrow()
        .as_ref()
        .filter(|leadership| !leadership.is_lost())
        .map(|leadership| leadership.fencing_token)
}

/// Proof of being the instance allowed to act.
#[derive(Clone, Debug)]
pub struct Leadership {
    /// Grows with every new leader. Actions carry it so that whatever they touch can refuse a
    /// stale leader.
    pub fencing_token: u64,
    pub candidate: String,
    /// Becomes `true` when the leadership is lost; a closed channel (the store is gone) is
    /// lost too.
    lost: watch::Receiver<bool>,
}

// === impl Leadership ===

impl Leadership {
    pub(crate) fn new(fencing_token: u64, candidate: &str, lost: watch::Receiver<bool>) -> Self {
        Self {
            fencing_token,
            candidate: candidate.to_owned(),
            lost,
        }
    }

    /// Whether the leadership is already known to be lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow() || self.lost.has_changed().is_err()
    }

    /// Resolves once the leadership is lost (at once if it already is).
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        if lost.wait_for(|lost| *lost).await.is_err() {
            tracing::debug!(
                fencing_token = self.fencing_token,
                "the store that granted this leadership is gone"
            );
        }
    }

    /// The raw signal, for a `select!` beside other channels.
    pub fn signal(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }
}

impl PartialEq for Leadership {
    fn eq(&self, other: &Self) -> bool {
        self.fencing_token == other.fencing_token && self.candidate == other.candidate
    }
}

impl Eq for Leadership {}
