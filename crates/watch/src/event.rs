//! What the manager reports: one event per change of a backend's torrents.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::{Change, Diff, TorrentRecord};

/// The kind of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A torrent appeared.
    Added,
    /// A torrent disappeared.
    Removed,
    /// Fields of a torrent changed (see [`Event::diff`]).
    Updated,
    /// A torrent went from active to inactive.
    Paused,
    /// A torrent went from inactive to active.
    Resumed,
    /// A torrent became finished.
    Finished,
    /// The backend failed (unreachable, malformed answer, timeout).
    Error,
}

impl EventKind {
    /// The lowercase name used in JSON and webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Updated => "updated",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Finished => "finished",
            Self::Error => "error",
        }
    }
}

/// Something that happened on a backend. Serialized as the webhook body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Idempotency id: the same change yields the same id, also when it is re-detected after a
    /// restart (a hash of backend, kind, torrent and the states before and after).
    pub id: String,
    /// The backend's name.
    pub backend: String,
    /// What happened.
    pub event: EventKind,
    /// The torrent (its new state; the last known state for `removed`).
    pub torrent: Option<TorrentRecord>,
    /// The changed fields (for `updated`, and for `paused`/`resumed`/`finished`).
    pub diff: Option<Diff>,
    /// The error message (for `error`).
    pub error: Option<String>,
}

impl Event {
    /// An `error` event of `backend`.
    pub fn error(backend: &str, message: String, seq: u64) -> Self {
        let id = event_id(&[
            backend.as_bytes(),
            b"error",
            message.as_bytes(),
            &seq.to_be_bytes(),
        ]);
        Self {
            id,
            backend: backend.to_owned(),
            event: EventKind::Error,
            torrent: None,
            diff: None,
            error: Some(message),
        }
    }
}

fn event_id(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..16])
}

fn make(
    backend: &str,
    kind: EventKind,
    old: Option<&TorrentRecord>,
    new: &TorrentRecord,
    diff: Option<Diff>,
) -> Event {
    let ser = |r: Option<&TorrentRecord>| r.map(|r| serde_json::to_vec(r).unwrap_or_default());
    let (o, n) = (
        ser(old).unwrap_or_default(),
        ser(Some(new)).unwrap_or_default(),
    );
    Event {
        id: event_id(&[
            backend.as_bytes(),
            kind.as_str().as_bytes(),
            new.hash.as_bytes(),
            &o,
            &n,
        ]),
        backend: backend.to_owned(),
        event: kind,
        torrent: Some(new.clone()),
        diff,
        error: None,
    }
}

/// The events that turn snapshot `old` into `new` (both keyed by info-hash): `added`, `removed`,
/// and for a changed torrent `updated` followed by `paused`/`resumed`/`finished` when those
/// fields changed. A torrent added already finished gets `added` then `finished`.
pub fn diff_snapshots(
    backend: &str,
    old: &BTreeMap<String, TorrentRecord>,
    new: &BTreeMap<String, TorrentRecord>,
) -> Vec<Event> {
    let mut out = Vec::new();
    let hashes: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for h in hashes {
        match (old.get(h), new.get(h)) {
            (None, Some(n)) => {
                out.push(make(backend, EventKind::Added, None, n, None));
                if n.finished {
                    out.push(make(backend, EventKind::Finished, None, n, None));
                }
            }
            (Some(o), None) => out.push(make(backend, EventKind::Removed, Some(o), o, None)),
            (Some(o), Some(n)) => {
                let d = o.diff(n);
                if d.is_empty() {
                    continue;
                }
                out.push(make(
                    backend,
                    EventKind::Updated,
                    Some(o),
                    n,
                    Some(d.clone()),
                ));
                for c in d.changes() {
                    let kind = match c {
                        Change::Active(x) if x.to => EventKind::Resumed,
                        Change::Active(_) => EventKind::Paused,
                        Change::Finished(x) if x.to => EventKind::Finished,
                        _ => continue,
                    };
                    out.push(make(backend, kind, Some(o), n, Some(d.clone())));
                }
            }
            (None, None) => {}
        }
    }
    out
}
