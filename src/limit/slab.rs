//! [`Slab`]: a vector with holes that are reused, and [`FastHash`] for the keys nobody
//! outside chooses.

/// A vector with holes that are reused: stable indexes for permits to keep.
pub(super) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(super) fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.items[index as usize] = Some(item);
                index
            }
            None => {
                self.items.push(Some(item));
                // Bounded by the route cap (at most 100 000 000), far below u32::MAX.
                (self.items.len() - 1) as u32
            }
        }
    }

    pub(super) fn remove(&mut self, index: u32) {
        if let Some(slot) = self.items.get_mut(index as usize) {
            if slot.take().is_some() {
                self.free.push(index);
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// The item at `index`; indexes handed out by `insert` and not removed are valid.
    pub(super) fn at(&mut self, index: u32) -> &mut T {
        match self.items.get_mut(index as usize).and_then(Option::as_mut) {
            Some(item) => item,
            None => unreachable!("slab index {index} is live while a key holds it"),
        }
    }

    pub(super) fn get(&self, index: u32) -> Option<&T> {
        self.items.get(index as usize).and_then(Option::as_ref)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, item)| item.as_mut().map(|item| (i as u32, item)))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_ref().map(|item| (i as u32, item)))
    }
}

/// A fast hash for keys nobody outside chooses (the user's own sending IPs, slab
/// indexes); site names, which come from recipients, keep the standard DoS-resistant
/// hasher.
#[derive(Clone, Copy, Default)]
pub(super) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// Multiply-rotate mixing (the FxHash step).
pub(super) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
