//! Growing the ledger's rings: the `VecDeque`s that keep the idempotency
//! records and the reservations in arrival order.

use std::collections::VecDeque;

/// The least capacity a ring grows to.
const RING_CAPACITY_MIN: usize = 16;

/// Makes room in `ring` for `n` more entries. It grows by doubling, as a
/// `VecDeque` does, but stops at `cap` (the most entries its table holds)
/// on the way. A table that is full pops its oldest entry for each new
/// one, so the ring's head travels round its whole allocation: capacity
/// beyond `cap` would be written to, and so resident, for nothing (up to
/// twice the table's memory for a cap just above a power of two), and a
/// server that had long been full would still be touching fresh pages
/// until its head had gone round once. Past `cap` (a ring allowed to
/// span more for a while) it doubles again.
pub(crate) fn make_room<T>(ring: &mut VecDeque<T>, n: usize, cap: usize) {
    let (len, capacity) = (ring.len(), ring.capacity());
    let needed = len.saturating_add(n);
    if needed <= capacity {
        return;
    }
    let doubled = capacity.saturating_mul(2).max(RING_CAPACITY_MIN);
    let target = if capacity < cap {
        doubled.min(cap)
    } else {
        doubled
    };
    ring.reserve_exact(target.max(needed) - len);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring filled to its cap and then used as a queue (one in, one out)
    /// has exactly its cap as capacity, for caps on, below and just above
    /// a power of two; beyond its cap it grows again.
    #[test]
    fn a_ring_grows_by_doubling_up_to_its_cap_and_no_further() {
        for cap in [1, 15, 16, 17, 1000, 1024, 1025, 5000] {
            let mut ring = VecDeque::new();
            let mut capacities = vec![];
            for i in 0..cap {
                make_room(&mut ring, 1, cap);
                ring.push_back(i);
                if capacities.last() != Some(&ring.capacity()) {
                    capacities.push(ring.capacity());
                }
            }
            for i in 0..3 * cap {
                ring.pop_front();
                make_room(&mut ring, 1, cap);
                ring.push_back(i);
            }
            assert_eq!(ring.capacity(), cap, "cap {cap}");
            // Doubling on the way: few reallocations.
            assert!(
                capacities.len() <= 2 + cap.ilog2() as usize,
                "cap {cap}: {capacities:?}"
            );
            make_room(&mut ring, 1, cap);
            ring.push_back(0);
            assert!(ring.capacity() >= 2 * cap, "past its cap it doubles");
            make_room(&mut ring, 3 * cap, cap);
            assert!(ring.capacity() >= ring.len() + 3 * cap, "room for n");
        }
    }
}
