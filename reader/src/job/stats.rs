//! What one read counts, for logs and metrics.

/// Counters of one read, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Objects fetched (fully or partly).
    pub objects_read: u64,
    /// Raw objects skipped because meta lists them as consumed.
    pub consumed_skipped: u64,
    /// Objects listed but gone when fetched (raw: covered by a merged object).
    pub vanished: u64,
    /// Objects whose gzip stream is corrupt or truncated (served partly).
    pub bad_objects: u64,
    /// Lines that are not records.
    pub bad_lines: u64,
    /// Keys under the job's prefixes that are not in the layout.
    pub foreign_keys: u64,
    /// Metas and raw objects' first records that could not be read (the
    /// meta is ignored, the object opened first).
    pub unreadable: u64,
    /// Times a merged object was not sorted (see
    /// [`Merge::out_of_order`](crate::merge::Merge::out_of_order)).
    pub out_of_order: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
}

impl ReadStats {
    /// Adds another read's counters.
    pub fn add(&mut self, o: &ReadStats) {
        self.objects_read += o.objects_read;
        self.consumed_skipped += o.consumed_skipped;
        self.vanished += o.vanished;
        self.bad_objects += o.bad_objects;
        self.bad_lines += o.bad_lines;
        self.foreign_keys += o.foreign_keys;
        self.unreadable += o.unreadable;
        self.out_of_order += o.out_of_order;
        self.bytes += o.bytes;
    }
}
