//! Why a run stops early. The run's stop flag (also set by Ctrl-C) is raised
//! together with the first cause (a child's log that cannot be written, the
//! relay exiting); the round loop sees the flag at its next check and the
//! report names the cause. A cause raised after the flag was already set is
//! a consequence (Ctrl-C reaches the children too), not the reason, and once
//! the run is closing, children exiting is expected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What ended a run early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A child process whose end ends the run (the relay) exited.
    Exited {
        /// The child's name (`relay`).
        child: String,
    },
    /// Something failed; the message names it (file and OS error, …).
    Failed(String),
}

/// The run's stop flag and the first cause raised with it (shared by the
/// round loop and the threads that copy the children's logs).
#[derive(Debug, Clone)]
pub struct Abort {
    flag: Arc<AtomicBool>,
    cause: Arc<Mutex<Option<Cause>>>,
    closing: Arc<AtomicBool>,
}

impl Abort {
    /// Around the run's stop flag (which Ctrl-C sets without a cause).
    pub fn new(flag: Arc<AtomicBool>) -> Self {
        Self {
            flag,
            cause: Arc::new(Mutex::new(None)),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Stops the run because of `cause`, unless it is already stopping or
    /// closing.
    pub fn raise(&self, cause: Cause) {
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        let mut slot = self.cause.lock().unwrap_or_else(|p| p.into_inner());
        if !self.flag.swap(true, Ordering::SeqCst) {
            *slot = Some(cause);
        }
    }

    /// Whether the run must stop.
    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The stop flag itself (for loops that poll it).
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// The cause the run was stopped for, if any was raised (none: Ctrl-C).
    pub fn cause(&self) -> Option<Cause> {
        self.cause.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The run is ending: from now on nothing raises a cause.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_wins_and_ctrl_c_has_none() {
        let a = Abort::new(Arc::new(AtomicBool::new(false)));
        assert!(!a.is_raised());
        a.raise(Cause::Failed("writing x: disk full".into()));
        a.raise(Cause::Exited {
            child: "relay".into(),
        });
        assert!(a.is_raised());
        assert_eq!(
            a.cause(),
            Some(Cause::Failed("writing x: disk full".into()))
        );

        // Ctrl-C sets the flag: what follows is a consequence.
        let flag = Arc::new(AtomicBool::new(false));
        let b = Abort::new(flag.clone());
        flag.store(true, Ordering::SeqCst);
        b.raise(Cause::Exited {
            child: "relay".into(),
        });
        assert!(b.is_raised());
        assert_eq!(b.cause(), None);

        // Closing: children exiting is expected.
        let c = Abort::new(Arc::new(AtomicBool::new(false)));
        c.close();
        c.raise(Cause::Exited {
            child: "relay".into(),
        });
        assert!(!c.is_raised());
        assert_eq!(c.cause(), None);
    }
}
