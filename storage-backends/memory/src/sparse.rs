//! A sparse byte array made of fixed-size chunks allocated on first write.

use std::collections::BTreeMap;

const CHUNK: u64 = 64 * 1024;

/// File contents: chunks that were never written (or were deleted) read as zeros.
#[derive(Debug, Default)]
pub(crate) struct Sparse {
    chunks: BTreeMap<u64, Box<[u8]>>,
    pub(crate) len: u64,
    pub(crate) exists: bool,
    pub(crate) modified: u64,
}

impl Sparse {
    /// Bytes allocated for chunks.
    pub(crate) fn allocated(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK
    }

    /// Copies bytes at `offset` into `buf`; the caller checked the range against `len`.
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (idx, within) = (pos / CHUNK, (pos % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match self.chunks.get(&idx) {
                Some(c) => out.copy_from_slice(&c[within..within + n]),
                None => out.fill(0),
            }
            done += n;
        }
    }

    /// Writes `data` at `offset`, extending the length; the caller checked for overflow.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let (idx, within) = (pos / CHUNK, (pos % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(data.len() - done);
            let chunk = self
                .chunks
                .entry(idx)
                .or_insert_with(|| vec![0; CHUNK as usize].into_boxed_slice());
            chunk[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    /// Truncates or extends with zeros.
    pub(crate) fn set_len(&mut self, len: u64) {
        if len < self.len {
            self.zero(len, self.len);
        }
        self.len = len;
    }

    /// Zeroes `[start, end)` clamped to the length, freeing chunks it covers whole.
    pub(crate) fn zero(&mut self, start: u64, end: u64) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let first = start / CHUNK;
        let last = (end - 1) / CHUNK;
        let idxs: Vec<u64> = self.chunks.range(first..=last).map(|(&i, _)| i).collect();
        for idx in idxs {
            let (c0, c1) = (idx * CHUNK, idx * CHUNK + CHUNK);
            if start <= c0 && end >= c1 {
                self.chunks.remove(&idx);
            } else if let Some(chunk) = self.chunks.get_mut(&idx) {
                let a = (start.max(c0) - c0) as usize;
                let b = (end.min(c1) - c0) as usize;
                chunk[a..b].fill(0);
            }
        }
    }
}
