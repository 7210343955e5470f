//! [`RetryQueue`]: a small in-memory queue of items waiting for their retry time.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Items waiting for a due time, earliest first; for senders without an MTA queue.
///
/// Not durable: a crash or restart loses it. Real queues belong to the MTA or a
/// database (the `sqlite` feature's `SqliteQueue` is one); store `RetryDecision::RetryAt`
/// times there instead. Push and pop are
/// O(log n); items due at the same time come out in the order they were pushed.
///
/// ```
/// use std::time::Duration;
/// use smtp_throttle::retry::RetryQueue;
///
/// let mut queue = RetryQueue::new();
/// queue.push("b", Duration::from_secs(20));
/// queue.push("a", Duration::from_secs(10));
/// assert_eq!(queue.next_due(), Some(Duration::from_secs(10)));
/// assert_eq!(queue.pop_due(Duration::from_secs(15)).collect::<Vec<_>>(), ["a"]);
/// assert_eq!(queue.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct RetryQueue<I, T> {
    heap: BinaryHeap<Reverse<Entry<I, T>>>,
    pushed: u64,
}

#[derive(Debug, Clone)]
struct Entry<I, T> {
    due: T,
    order: u64,
    item: I,
}

impl<I, T: Ord> PartialEq for Entry<I, T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<I, T: Ord> Eq for Entry<I, T> {}

impl<I, T: Ord> PartialOrd for Entry<I, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<I, T: Ord> Ord for Entry<I, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.due.cmp(&other.due).then(self.order.cmp(&other.order))
    }
}

impl<I, T: Ord + Copy> RetryQueue<I, T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            pushed: 0,
        }
    }

    /// Adds `item`, due at `due`.
    pub fn push(&mut self, item: I, due: T) {
        self.heap.push(Reverse(Entry {
            due,
            order: self.pushed,
            item,
        }));
        self.pushed = self.pushed.wrapping_add(1);
    }

    /// The earliest due time, if any item waits.
    pub fn next_due(&self) -> Option<T> {
        self.heap.peek().map(|Reverse(entry)| entry.due)
    }

    /// Removes and returns the earliest item if it is due at `now`.
    pub fn pop_next(&mut self, now: T) -> Option<I> {
        if self.next_due()? <= now {
            self.heap.pop().map(|Reverse(entry)| entry.item)
        } else {
            None
        }
    }

    /// Removes and yields every item due at `now`, earliest first. Items left in the
    /// iterator when it is dropped stay removed only if they were yielded.
    pub fn pop_due(&mut self, now: T) -> impl Iterator<Item = I> + '_ {
        std::iter::from_fn(move || self.pop_next(now))
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no item waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<I, T: Ord + Copy> Default for RetryQueue<I, T> {
    fn default() -> Self {
        Self::new()
    }
}
