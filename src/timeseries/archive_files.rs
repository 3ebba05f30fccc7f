//! Archive files follow the transaction that wrote or superseded them, as
//! PostgreSQL's own relation files do (its `pendingDeletes`): a file this
//! transaction (or subtransaction) wrote is removed if it aborts, and a
//! file it superseded is removed only once it commits. So a listed file is
//! never missing, and an aborted maintenance step leaves no file behind. A
//! crash runs neither: it can leave one unlisted file (never a listed one
//! without its rows), which the next run writes past under a new name.

use std::cell::RefCell;
use std::path::PathBuf;

use pgrx::pg_sys;

use crate::error::*;

/// What happens to a file at the end of its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnEnd {
    /// Written here: removed if the (sub)transaction aborts.
    RemoveOnAbort,
    /// Superseded here: removed once the transaction commits.
    RemoveOnCommit,
}

struct Pending {
    path: PathBuf,
    on_end: OnEnd,
    /// The subtransaction the action belongs to (moves to its parent when
    /// that subtransaction commits).
    subxact: pg_sys::SubTransactionId,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static REGISTERED: RefCell<bool> = const { RefCell::new(false) };
}

fn register() {
    REGISTERED.with(|r| {
        if !*r.borrow() {
            // SAFETY: backend-lifetime callbacks; they only touch PENDING.
            unsafe {
                pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
                pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
            }
            *r.borrow_mut() = true;
        }
    });
}

fn push(path: PathBuf, on_end: OnEnd) {
    register();
    // SAFETY: reads the current subtransaction's id.
    let subxact = unsafe { pg_sys::GetCurrentSubTransactionId() };
    PENDING.with(|p| p.borrow_mut().push(Pending { path, on_end, subxact }));
}

/// `path` was just written: it goes if this (sub)transaction aborts.
pub fn written(path: PathBuf) {
    push(path, OnEnd::RemoveOnAbort);
}

/// `path` no longer holds listed rows: it goes when this transaction commits.
pub fn superseded(path: PathBuf) {
    push(path, OnEnd::RemoveOnCommit);
}

fn remove(path: &PathBuf) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // The transaction's outcome is decided: a file that cannot go is
        // reported, not an error.
        Err(e) => pgrx::warning!("gridkit: could not remove archive file {}: {e}", path.display()),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE if PENDING.with(|p| !p.borrow().is_empty()) => {
            SqlError::new(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "cannot PREPARE a transaction that wrote or superseded gridkit archive files",
            )
            .raise();
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT => {
            for p in PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())) {
                if p.on_end == OnEnd::RemoveOnCommit {
                    remove(&p.path);
                }
            }
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            for p in PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())) {
                if p.on_end == OnEnd::RemoveOnAbort {
                    remove(&p.path);
                }
            }
        }
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    parent_subid: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => PENDING.with(|p| {
            for action in p.borrow_mut().iter_mut().filter(|a| a.subxact == my_subid) {
                action.subxact = parent_subid;
            }
        }),
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            let undone: Vec<Pending> = PENDING.with(|p| {
                let mut p = p.borrow_mut();
                let (undone, kept) = std::mem::take(&mut *p).into_iter().partition(|a| a.subxact == my_subid);
                *p = kept;
                undone
            });
            for action in undone {
                if action.on_end == OnEnd::RemoveOnAbort {
                    remove(&action.path);
                }
            }
        }
        _ => {}
    }
}
