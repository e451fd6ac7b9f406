//! Interning of the strings trace analyses key by (block reasons), so that a busy trace's
//! ~10 M goroutine transitions allocate nothing and compare no bytes.

use gorx_trace::event::EvTable;
use gorx_trace::goutil::FxHashMap;
use std::rc::Rc;

/// One `Rc<str>` per distinct text.
#[derive(Default)]
pub(crate) struct Names {
    by_text: FxHashMap<Box<[u8]>, Rc<str>>,
    /// The current generation's strings by where their bytes lie (address, length) in
    /// its string table: found without reading them. Short compares through `memcmp`
    /// cost more here than the rest of a transition's bookkeeping.
    by_addr: FxHashMap<(usize, usize), Rc<str>>,
    /// The table `by_addr` is valid for (its address).
    table: usize,
}

impl Names {
    /// The interned text of `bytes`, a string of `table` (an event's) or a static one.
    pub(crate) fn get(&mut self, table: Option<&EvTable>, bytes: &[u8]) -> Rc<str> {
        let table = table.map_or(0, |t| t as *const _ as usize);
        if table != self.table {
            self.new_generation();
            self.table = table;
        }
        let at = (bytes.as_ptr() as usize, bytes.len());
        if let Some(r) = self.by_addr.get(&at) {
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
        self.by_addr.insert(at, r.clone());
        r
    }

    /// Forget addresses: called at each generation's Sync event (a new table may be
    /// allocated where the old one was).
    pub(crate) fn new_generation(&mut self) {
        self.by_addr.clear();
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
}
