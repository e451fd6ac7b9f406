//! Caches the trace analyses keep per generation, and interning of the strings they key
//! by (block reasons), so that a busy trace's ~10 M goroutine transitions allocate
//! nothing and compare no bytes.

use gorx_trace::event::EvTable;
use gorx_trace::goutil::FxHashMap;
use std::hash::Hash;
use std::rc::Rc;

/// Values keyed by something that only means the same within one generation (stack ids,
/// addresses in its string table): emptied at each generation's Sync event (a new table
/// may be allocated where the old one was) and whenever events come with another table.
#[derive(Debug)]
pub(crate) struct PerGeneration<K, V> {
    map: FxHashMap<K, V>,
    /// The table `map` is valid for (its address).
    table: usize,
}

impl<K, V> Default for PerGeneration<K, V> {
    fn default() -> Self {
        PerGeneration {
            map: FxHashMap::default(),
            table: 0,
        }
    }
}

impl<K: Hash + Eq, V> PerGeneration<K, V> {
    /// The map for events of `table` (emptied first if the last call was for another).
    pub(crate) fn of(&mut self, table: Option<&EvTable>) -> &mut FxHashMap<K, V> {
        let table = table.map_or(0, |t| t as *const _ as usize);
        if table != self.table {
            self.map.clear();
            self.table = table;
        }
        &mut self.map
    }

    /// Called at each generation's Sync event.
    pub(crate) fn new_generation(&mut self) {
        self.map.clear();
    }
}

/// One `Rc<str>` per distinct text.
#[derive(Default)]
pub(crate) struct Names {
    by_text: FxHashMap<Box<[u8]>, Rc<str>>,
    /// The current generation's strings by where their bytes lie (address, length) in
    /// its string table: found without reading them. Short compares through `memcmp`
    /// cost more here than the rest of a transition's bookkeeping.
    by_addr: PerGeneration<(usize, usize), Rc<str>>,
}

impl Names {
    /// The interned text of `bytes`, a string of `table` (an event's) or a static one.
    pub(crate) fn get(&mut self, table: Option<&EvTable>, bytes: &[u8]) -> Rc<str> {
        let at = (bytes.as_ptr() as usize, bytes.len());
        let by_addr = self.by_addr.of(table);
        if let Some(r) = by_addr.get(&at) {
            return r.clone();
        }
        let r = match self.by_text.get(bytes) {
            Some(r) => r.clone(),
            None => {
                let r: Rc<str> = String::from_utf8_lossy(bytes).into();
                self.by_text.insert(bytes.into(), r.clone());
                r
            }
        };
        by_addr.insert(at, r.clone());
        r
    }

    /// Called at each generation's Sync event.
    pub(crate) fn new_generation(&mut self) {
        self.by_addr.new_generation();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_same_rc() {
        let mut n = Names::default();
        let a = b"chan receive".to_vec();
        let b = b"chan receive".to_vec();
        let x = n.get(None, &a);
        let y = n.get(None, &b);
        assert!(Rc::ptr_eq(&x, &y));
        assert_eq!(&*x, "chan receive");
        assert!(Rc::ptr_eq(&n.get(None, &a), &x));
        n.new_generation();
        assert!(Rc::ptr_eq(&n.get(None, &b), &x));
        assert_eq!(&*n.get(None, b"sync"), "sync");
    }

    #[test]
    fn per_generation_forgets_at_a_new_generation() {
        let mut c: PerGeneration<u64, u32> = PerGeneration::default();
        c.of(None).insert(1, 10);
        assert_eq!(c.of(None).get(&1), Some(&10));
        c.new_generation();
        assert_eq!(c.of(None).get(&1), None);
    }
}
