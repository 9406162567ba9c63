//! The durable webhook outbox.
//!
//! Group commit: the events of one enqueue (one poll of one backend) are written as one batch
//! file of JSON lines with one fsync (temp file, fsync, rename, directory fsync); an event is
//! accepted only once that returned. Events done (delivered or given up) are appended to an
//! ack log without fsync: a lost ack only means a duplicate delivery, with the same event id.
//! A batch file is deleted once every event in it is done; the ack log is emptied when no batch
//! is left.
//!
//! Delivery order: one queue per key (backend and torrent). A key has at most one event in
//! flight, so the events of one torrent reach the receiver in the order they were accepted.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::event::Event;

/// Name of the ack log inside the outbox directory.
const ACKS: &str = "acks";
/// Extension of batch files.
const BATCH_EXT: &str = "jsonl";

/// One event waiting for delivery.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    /// The event id (the idempotency key sent as a header).
    pub(crate) id: String,
    /// Ordering key: backend and torrent (backend alone for `error`).
    pub(crate) key: String,
    /// The event kind's name.
    pub(crate) kind: &'static str,
    /// The exact body to POST (and to sign).
    pub(crate) body: Bytes,
    batch: u64,
}

/// Events chosen for a batch, written outside the lock by [`write_batch`].
#[derive(Debug)]
pub(crate) struct Prepared {
    seq: u64,
    path: PathBuf,
    items: Vec<Queued>,
    bytes: Vec<u8>,
}

impl Prepared {
    /// Whether nothing is to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Writes a prepared batch durably (blocking).
pub(crate) fn write_batch(p: &Prepared) -> Result<(), crate::state::StateError> {
    crate::state::write_atomic(&p.path, &p.bytes)
}

struct Batch {
    path: PathBuf,
    ids: Vec<String>,
    remaining: usize,
}

/// The outbox state of one webhook (kept behind its mutex).
pub(crate) struct Outbox {
    dir: PathBuf,
    next_seq: u64,
    /// Ids accepted (or being written) and not yet done.
    pending: HashSet<String>,
    batches: BTreeMap<u64, Batch>,
    /// Ids done whose batch file still exists.
    acked: HashSet<String>,
    ack_lines: usize,
    acks: Option<File>,
    queue: KeyQueue,
}

impl Outbox {
    /// Opens the outbox in `dir`: batches left by an earlier run are queued again, minus the
    /// events their ack log names. Problems are reported through `warn`.
    pub(crate) fn open(dir: &Path, warn: &mut dyn FnMut(String)) -> Self {
        let _ = std::fs::create_dir_all(dir);
        let acked_before: HashSet<String> = std::fs::read(dir.join(ACKS))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .filter(|l| l.len() == 32 && l.bytes().all(|c| c.is_ascii_hexdigit()))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut ob = Self {
            dir: dir.to_owned(),
            next_seq: 0,
            pending: HashSet::new(),
            batches: BTreeMap::new(),
            acked: HashSet::new(),
            ack_lines: 0,
            acks: None,
            queue: KeyQueue::default(),
        };
        for (seq, path) in batch_files(dir, warn) {
            ob.next_seq = ob.next_seq.max(seq + 1);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    warn(format!("reading {}: {e}", path.display()));
                    continue;
                }
            };
            let mut batch = Batch {
                path: path.clone(),
                ids: Vec::new(),
                remaining: 0,
            };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let e: Event = match serde_json::from_slice(line) {
                    Ok(e) => e,
                    Err(err) => {
                        warn(format!(
                            "skipping a corrupt line of {}: {err}",
                            path.display()
                        ));
                        continue;
                    }
                };
                if acked_before.contains(&e.id) {
                    ob.acked.insert(e.id.clone());
                } else if ob.pending.insert(e.id.clone()) {
                    batch.remaining += 1;
                    ob.queue.push(queued(&e, Bytes::copy_from_slice(line), seq));
                }
                batch.ids.push(e.id);
            }
            if batch.remaining == 0 {
                let _ = std::fs::remove_file(&path);
                for id in &batch.ids {
                    ob.acked.remove(id);
                }
            } else {
                ob.batches.insert(seq, batch);
            }
        }
        // Keep only the acks of batches still present.
        ob.rewrite_acks(warn);
        ob
    }

    /// Ids accepted and not yet done.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Chooses the events of `events` not already pending, up to `capacity` pending in all, and
    /// encodes them as the next batch. `refuse` hears about every event left out for lack of
    /// room or encoding.
    pub(crate) fn prepare(
        &mut self,
        events: &[Event],
        capacity: usize,
        refuse: &mut dyn FnMut(String),
    ) -> Prepared {
        let seq = self.next_seq;
        let mut items = Vec::new();
        let mut bytes = Vec::new();
        for e in events {
            if self.pending.contains(&e.id) {
                continue;
            }
            if self.pending.len() >= capacity {
                refuse(format!(
                    "outbox full ({} events), event {} dropped",
                    self.pending.len(),
                    e.id
                ));
                continue;
            }
            let line = match serde_json::to_vec(e) {
                Ok(l) => l,
                Err(err) => {
                    refuse(format!("encoding event {}: {err}", e.id));
                    continue;
                }
            };
            self.pending.insert(e.id.clone());
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
            items.push(queued(e, Bytes::from(line), seq));
        }
        if !items.is_empty() {
            self.next_seq += 1;
        }
        Prepared {
            seq,
            path: self.dir.join(format!("{seq:020}.{BATCH_EXT}")),
            items,
            bytes,
        }
    }

    /// Makes a written batch deliverable.
    pub(crate) fn commit(&mut self, p: Prepared) {
        self.batches.insert(
            p.seq,
            Batch {
                path: p.path,
                ids: p.items.iter().map(|q| q.id.clone()).collect(),
                remaining: p.items.len(),
            },
        );
        for q in p.items {
            self.queue.push(q);
        }
    }

    /// Forgets a batch whose write failed (its events were not accepted).
    pub(crate) fn abort(&mut self, p: Prepared) {
        for q in &p.items {
            self.pending.remove(&q.id);
        }
    }

    /// The next event to deliver whose key has nothing in flight; its key becomes busy.
    pub(crate) fn take(&mut self) -> Option<Queued> {
        self.queue.take()
    }

    /// Marks a taken event done (delivered or given up): acked, its key free again, its batch
    /// file deleted when it was the batch's last event.
    pub(crate) fn done(&mut self, q: &Queued, warn: &mut dyn FnMut(String)) {
        self.queue.release(&q.key);
        if !self.pending.remove(&q.id) {
            return;
        }
        let Some(batch) = self.batches.get_mut(&q.batch) else {
            return;
        };
        batch.remaining = batch.remaining.saturating_sub(1);
        if batch.remaining == 0 {
            if let Some(b) = self.batches.remove(&q.batch) {
                if let Err(e) = std::fs::remove_file(&b.path) {
                    warn(format!("removing {}: {e}", b.path.display()));
                }
                for id in &b.ids {
                    self.acked.remove(id);
                }
            }
            if self.batches.is_empty() || self.ack_lines > 2 * self.acked.len() + 1024 {
                self.rewrite_acks(warn);
            }
            return;
        }
        self.acked.insert(q.id.clone());
        self.append_ack(&q.id, warn);
    }

    /// Puts a taken event back at the head of its key's queue (its key free again).
    pub(crate) fn requeue(&mut self, q: Queued) {
        self.queue.release(&q.key);
        self.queue.push_front(q);
    }

    /// Writes an event given up to `dead/` (best effort).
    pub(crate) fn bury(&self, q: &Queued, warn: &mut dyn FnMut(String)) {
        let dead = self.dir.join("dead");
        let path = dead.join(format!("{:020}-{}.json", q.batch, q.id));
        if let Err(e) = std::fs::create_dir_all(&dead).and_then(|()| std::fs::write(&path, &q.body))
        {
            warn(format!("writing {}: {e}", path.display()));
        }
    }

    fn append_ack(&mut self, id: &str, warn: &mut dyn FnMut(String)) {
        if self.acks.is_none() {
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(ACKS))
            {
                Ok(f) => self.acks = Some(f),
                Err(e) => {
                    warn(format!("opening the ack log: {e}"));
                    return;
                }
            }
        }
        if let Some(f) = &mut self.acks {
            if let Err(e) = f.write_all(format!("{id}\n").as_bytes()) {
                warn(format!("writing the ack log: {e}"));
                self.acks = None;
                return;
            }
            self.ack_lines += 1;
        }
    }

    /// Replaces the ack log by the ids still needed (none: an empty log).
    fn rewrite_acks(&mut self, warn: &mut dyn FnMut(String)) {
        self.acks = None;
        let path = self.dir.join(ACKS);
        let mut text = String::with_capacity(self.acked.len() * 33);
        for id in &self.acked {
            text.push_str(id);
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        let r = std::fs::write(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            warn(format!("rewriting the ack log: {e}"));
        }
        self.ack_lines = self.acked.len();
    }
}

fn queued(e: &Event, body: Bytes, batch: u64) -> Queued {
    let key = match &e.torrent {
        Some(t) => format!("{}\0{}", e.backend, t.hash),
        None => e.backend.clone(),
    };
    Queued {
        id: e.id.clone(),
        key,
        kind: e.event.as_str(),
        body,
        batch,
    }
}

/// Batch files of `dir` by sequence number; leftover temp files are removed.
fn batch_files(dir: &Path, warn: &mut dyn FnMut(String)) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.contains(".tmp") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let Some(stem) = name.strip_suffix(&format!(".{BATCH_EXT}")) else {
            continue;
        };
        match stem.parse::<u64>() {
            Ok(seq) => out.push((seq, path)),
            Err(_) => warn(format!("ignoring {}", path.display())),
        }
    }
    out.sort();
    out
}

/// Per-key FIFO queues with at most one event in flight per key.
#[derive(Default)]
struct KeyQueue {
    queues: HashMap<String, VecDeque<Queued>>,
    /// Keys with queued events and nothing in flight, in the order they became ready.
    ready: VecDeque<String>,
    busy: HashSet<String>,
}

impl KeyQueue {
    fn push(&mut self, q: Queued) {
        let key = q.key.clone();
        let queue = self.queues.entry(key.clone()).or_default();
        queue.push_back(q);
        if queue.len() == 1 && !self.busy.contains(&key) {
            self.ready.push_back(key);
        }
    }

    fn push_front(&mut self, q: Queued) {
        let key = q.key.clone();
        let queue = self.queues.entry(key.clone()).or_default();
        queue.push_front(q);
        if queue.len() == 1 && !self.busy.contains(&key) {
            self.ready.push_front(key);
        }
    }

    fn take(&mut self) -> Option<Queued> {
        let key = self.ready.pop_front()?;
        let queue = self.queues.get_mut(&key)?;
        let q = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        self.busy.insert(key);
        Some(q)
    }

    fn release(&mut self, key: &str) {
        if self.busy.remove(key) && self.queues.get(key).is_some_and(|q| !q.is_empty()) {
            self.ready.push_back(key.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::record::TorrentRecord;

    fn ev(n: u32, hash: &str) -> Event {
        Event {
            id: format!("{n:032x}"),
            backend: "b".into(),
            event: EventKind::Updated,
            torrent: Some(TorrentRecord {
                hash: hash.into(),
                name: String::new(),
                active: true,
                downloaded: u64::from(n),
                uploaded: 0,
                length: 1,
                path: String::new(),
                progress: 0.0,
                ratio: 0.0,
                finished: false,
                playing: false,
                files: vec![],
                extra: Default::default(),
            }),
            diff: None,
            error: None,
        }
    }

    fn accept(ob: &mut Outbox, events: &[Event]) {
        let p = ob.prepare(events, 100, &mut |m| panic!("{m}"));
        write_batch(&p).unwrap();
        ob.commit(p);
    }

    #[test]
    fn one_key_has_one_event_in_flight_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), &mut |m| panic!("{m}"));
        accept(&mut ob, &[ev(1, "a"), ev(2, "a"), ev(3, "b")]);
        let first = ob.take().unwrap();
        let other = ob.take().unwrap();
        assert_eq!(
            (first.id.as_str(), other.id.as_str()),
            (&*ev(1, "").id, &*ev(3, "").id)
        );
        assert!(
            ob.take().is_none(),
            "a's second event must wait for its first"
        );
        ob.done(&first, &mut |m| panic!("{m}"));
        assert_eq!(ob.take().unwrap().id, ev(2, "").id);
    }

    #[test]
    fn a_batch_is_one_file_and_reopening_skips_acked_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), &mut |m| panic!("{m}"));
        accept(&mut ob, &[ev(1, "a"), ev(2, "b"), ev(3, "c")]);
        // Duplicates of pending events are not written again.
        let p = ob.prepare(&[ev(2, "b")], 100, &mut |m| panic!("{m}"));
        assert!(p.is_empty());
        let files = batch_files(dir.path(), &mut |m| panic!("{m}"));
        assert_eq!(files.len(), 1);
        let q = ob.take().unwrap();
        ob.done(&q, &mut |m| panic!("{m}"));
        assert_eq!(ob.pending(), 2);
        drop(ob);

        let mut ob = Outbox::open(dir.path(), &mut |m| panic!("{m}"));
        assert_eq!(ob.pending(), 2);
        let mut ids = Vec::new();
        while let Some(q) = ob.take() {
            ids.push(q.id.clone());
            ob.done(&q, &mut |m| panic!("{m}"));
        }
        assert_eq!(ids, [ev(2, "").id, ev(3, "").id]);
        assert_eq!(ob.pending(), 0);
        assert!(batch_files(dir.path(), &mut |m| panic!("{m}")).is_empty());
        assert_eq!(std::fs::read(dir.path().join(ACKS)).unwrap(), b"");
    }

    #[test]
    fn capacity_refuses_and_a_failed_write_is_not_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), &mut |m| panic!("{m}"));
        let mut refused = 0;
        let p = ob.prepare(&[ev(1, "a"), ev(2, "a"), ev(3, "a")], 2, &mut |_| {
            refused += 1
        });
        assert_eq!((p.items.len(), refused), (2, 1));
        ob.abort(p);
        assert_eq!(ob.pending(), 0);
        assert!(ob.take().is_none());
    }
}
