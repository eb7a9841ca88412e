//! A map in key order that is small while it holds one entry.
//!
//! A participant's assets and a position's venues are most often a single
//! entry, and a `BTreeMap` of one entry allocates a whole leaf node: room
//! for eleven, about 1.2 KiB for a position. [`SmallMap`] keeps a single
//! entry in one allocation of its own size and becomes a `BTreeMap` at the
//! second. Reaching the one entry takes one pointer, as reaching a
//! `BTreeMap`'s root does, so lookups cost what they did.

use std::collections::BTreeMap;

#[derive(Clone, Default)]
pub enum SmallMap<K, V> {
    #[default]
    Empty,
    One(Box<(K, V)>),
    Many(BTreeMap<K, V>),
}

impl<K: Ord, V> SmallMap<K, V> {
    pub fn new() -> Self {
        SmallMap::Empty
    }

    pub fn len(&self) -> usize {
        match self {
            SmallMap::Empty => 0,
            SmallMap::One(_) => 1,
            SmallMap::Many(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Empty => None,
            SmallMap::One(e) => (e.0.borrow() == key).then_some(&e.1),
            SmallMap::Many(m) => m.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Empty => None,
            SmallMap::One(e) => (e.0.borrow() == key).then_some(&mut e.1),
            SmallMap::Many(m) => m.get_mut(key),
        }
    }

    /// The value under `key`, made with `V::default()` if absent.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        if let SmallMap::One(e) = self {
            if e.0 != key {
                let SmallMap::One(e) = std::mem::take(self) else {
                    unreachable!()
                };
                let (k, v) = *e;
                *self = SmallMap::Many(BTreeMap::from([(k, v)]));
            }
        }
        match self {
            SmallMap::Empty => {
                *self = SmallMap::One(Box::new((key, V::default())));
                let SmallMap::One(e) = self else {
                    unreachable!()
                };
                &mut e.1
            }
            SmallMap::One(e) => &mut e.1,
            SmallMap::Many(m) => m.entry(key).or_default(),
        }
    }

    /// Adds or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V>
    where
        V: Default,
    {
        let had = self.get(&key).is_some();
        let old = std::mem::replace(self.get_or_default(key), value);
        had.then_some(old)
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Empty => Iter::One(None),
            SmallMap::One(e) => Iter::One(Some((&e.0, &e.1))),
            SmallMap::Many(m) => Iter::Many(m.iter()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, mutably, in key order.
    pub fn values_mut(&mut self) -> Box<dyn Iterator<Item = &mut V> + '_> {
        match self {
            SmallMap::Empty => Box::new(std::iter::empty()),
            SmallMap::One(e) => Box::new(std::iter::once(&mut e.1)),
            SmallMap::Many(m) => Box::new(m.values_mut()),
        }
    }
}

/// Entries in key order.
pub enum Iter<'a, K, V> {
    One(Option<(&'a K, &'a V)>),
    Many(std::collections::btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::One(e) => e.take(),
            Iter::Many(i) => i.next(),
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Entries in key order, by value.
pub enum IntoIter<K, V> {
    One(Option<(K, V)>),
    Many(std::collections::btree_map::IntoIter<K, V>),
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IntoIter::One(e) => e.take(),
            IntoIter::Many(i) => i.next(),
        }
    }
}

impl<K: Ord, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            SmallMap::Empty => IntoIter::One(None),
            SmallMap::One(e) => IntoIter::One(Some(*e)),
            SmallMap::Many(m) => IntoIter::Many(m.into_iter()),
        }
    }
}

impl<K: Ord, V: Default> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = SmallMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// Equal when the entries are: one entry held alone or in a tree is the
/// same map.
impl<K: Ord, V: PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord, V: Eq> Eq for SmallMap<K, V> {}

impl<K: Ord + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agrees with a `BTreeMap` under any sequence of inserts and lookups.
    #[test]
    fn behaves_as_a_btree_map() {
        let mut m: SmallMap<u8, u32> = SmallMap::new();
        let mut b: BTreeMap<u8, u32> = BTreeMap::new();
        let mut x: u32 = 7;
        for i in 0..2000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let k = ((x >> 16) % 13) as u8;
            match i % 4 {
                0 => assert_eq!(m.insert(k, i), b.insert(k, i)),
                1 => *m.get_or_default(k) += 1,
                2 => {
                    if let Some(v) = m.get_mut(&k) {
                        *v += 2;
                    }
                }
                _ => assert_eq!(m.get(&k), b.get(&k)),
            }
            if i % 4 == 1 {
                *b.entry(k).or_default() += 1;
            }
            if i % 4 == 2 {
                if let Some(v) = b.get_mut(&k) {
                    *v += 2;
                }
            }
            assert_eq!(m.len(), b.len());
            assert!(m.iter().eq(b.iter()));
            if i % 97 == 0 {
                m = SmallMap::new();
                b.clear();
            }
        }
    }

    #[test]
    fn one_entry_alone_or_in_a_tree_is_the_same_map() {
        let mut one: SmallMap<u8, u8> = SmallMap::new();
        one.insert(1, 1);
        let many = SmallMap::Many(BTreeMap::from([(1, 1)]));
        assert_eq!(one, many);
        assert_eq!(one.keys().collect::<Vec<_>>(), vec![&1]);
        assert_ne!(one, SmallMap::Many(BTreeMap::from([(1, 2)])));
        assert_ne!(one, SmallMap::new());
        assert!(matches!(one, SmallMap::One(_)));
        one.insert(0, 0);
        assert!(matches!(one, SmallMap::Many(_)));
        assert_eq!(one.values().copied().collect::<Vec<_>>(), vec![0, 1]);
        let back: SmallMap<u8, u8> = one.clone().into_iter().collect();
        assert_eq!(back, one);
    }
}
