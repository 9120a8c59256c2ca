//! A listener's phases as its connections and tunnels see them: serving, draining (finish what is
//! in flight, take nothing new), closing (drop everything now). `serve` also learns here when
//! the last connection or tunnel is gone: each holds a [`Lifecycle`], and the channel behind it
//! closes when the last one is dropped.

use std::convert::Infallible;

use tokio::sync::{mpsc, watch};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Serving,
    Draining,
    Closing,
}

/// Held by every connection and tunnel of one listener.
#[derive(Clone)]
pub(crate) struct Lifecycle {
    phase: watch::Receiver<Phase>,
    _alive: mpsc::Sender<Infallible>,
}

/// Held by `serve`.
pub(crate) struct Control {
    phase: watch::Sender<Phase>,
    alive: mpsc::Receiver<Infallible>,
}

pub(crate) fn new() -> (Control, Lifecycle) {
    let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
    let (alive_tx, alive_rx) = mpsc::channel(1);
    let control = Control {
        phase: phase_tx,
        alive: alive_rx,
    };
    let lifecycle = Lifecycle {
        phase: phase_rx,
        _alive: alive_tx,
    };
    (control, lifecycle)
}

// === impl Lifecycle ===

impl Lifecycle {
    /// Waits for the next phase. A listener that is gone counts as closing.
    pub(crate) async fn changed(&mut self) -> Phase {
        match self.phase.changed().await {
            Ok(()) => *self.phase.borrow_and_update(),
            Err(_) => Phase::Closing,
        }
    }

    /// Resolves once the listener closes what is left.
    pub(crate) async fn closing(&mut self) {
        if *self.phase.borrow() == Phase::Closing {
            return;
        }
        while self.changed().await != Phase::Closing {}
    }
}

// === impl Control ===

impl Control {
    pub(crate) fn drain(&self) {
        self.phase.send_replace(Phase::Draining);
    }

    pub(crate) fn close(&self) {
        self.phase.send_replace(Phase::Closing);
    }

    /// Resolves when every [`Lifecycle`] has been dropped.
    pub(crate) async fn finished(&mut self) {
        if let Some(never) = self.alive.recv().await {
            match never {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn finished_waits_for_every_holder() {
        let (mut control, lifecycle) = new();
        let mut held = lifecycle.clone();
        drop(lifecycle);
        let waiting = tokio::time::timeout(Duration::from_millis(20), control.finished()).await;
        assert!(waiting.is_err(), "a holder is left");
        control.drain();
        assert_eq!(held.changed().await, Phase::Draining);
        control.close();
        held.closing().await;
        drop(held);
        control.finished().await;
    }
}
