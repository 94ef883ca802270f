//! Watch registrations: which watcher (a client connection) waits for which
//! event on which path. Pure bookkeeping; the server delivers the events.
//!
//! Semantics (as ZooKeeper 3.8): data and exists watches share one table and
//! fire once on NodeCreated, NodeDataChanged or NodeDeleted of their path;
//! child watches fire once on NodeChildrenChanged or NodeDeleted of their
//! path; persistent watches fire on every event of their path and stay;
//! persistent-recursive watches fire on every event except
//! NodeChildrenChanged of their path or any descendant, and stay. A watcher
//! gets each event at most once, however many of its watches match.

use crate::hash::{FastMap, FastSet};

use proto::response::event_type;

/// Identifies a watcher: the server's id for a client connection.
pub type WatcherId = u64;

/// The kinds of watch a client can leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData or exists: fires once.
    Data,
    /// getChildren: fires once.
    Child,
    /// addWatch mode 0: every event of the path.
    Persistent,
    /// addWatch mode 1: every event of the path and its descendants.
    PersistentRecursive,
}

const KINDS: [WatchKind; 4] = [
    WatchKind::Data,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

/// `WatcherType` values of checkWatches/removeWatches requests.
pub mod watcher_type {
    /// Child watches.
    pub const CHILDREN: i32 = 1;
    /// Data watches.
    pub const DATA: i32 = 2;
    /// Every kind.
    pub const ANY: i32 = 3;
    /// Persistent watches.
    pub const PERSISTENT: i32 = 4;
    /// Persistent-recursive watches.
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

impl WatchKind {
    fn index(self) -> usize {
        self as usize
    }

    /// The kinds a removeWatches/checkWatches `WatcherType` value selects.
    pub fn from_watcher_type(t: i32) -> Option<&'static [WatchKind]> {
        Some(match t {
            watcher_type::CHILDREN => &KINDS[1..2],
            watcher_type::DATA => &KINDS[0..1],
            watcher_type::ANY => &KINDS[..],
            watcher_type::PERSISTENT => &KINDS[2..3],
            watcher_type::PERSISTENT_RECURSIVE => &KINDS[3..4],
            _ => return None,
        })
    }
}

/// All watch registrations of a server.
#[derive(Debug, Default)]
pub struct WatchManager {
    by_path: [FastMap<String, FastSet<WatcherId>>; 4],
    by_watcher: FastMap<WatcherId, FastSet<(WatchKind, String)>>,
    recursive_count: usize,
}

impl WatchManager {
    /// No watches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a watch; returns false if it was already there.
    pub fn add(&mut self, path: &str, watcher: WatcherId, kind: WatchKind) -> bool {
        let added = self.by_path[kind.index()]
            .entry(path.to_string())
            .or_default()
            .insert(watcher);
        if added {
            self.by_watcher
                .entry(watcher)
                .or_default()
                .insert((kind, path.to_string()));
            if kind == WatchKind::PersistentRecursive {
                self.recursive_count += 1;
            }
        }
        added
    }

    /// Whether `watcher` has a watch of `kind` on `path`.
    pub fn contains(&self, path: &str, watcher: WatcherId, kind: WatchKind) -> bool {
        self.by_path[kind.index()]
            .get(path)
            .is_some_and(|s| s.contains(&watcher))
    }

    /// Removes one watch; returns whether it existed.
    pub fn remove(&mut self, path: &str, watcher: WatcherId, kind: WatchKind) -> bool {
        let table = &mut self.by_path[kind.index()];
        let Some(set) = table.get_mut(path) else {
            return false;
        };
        if !set.remove(&watcher) {
            return false;
        }
        if set.is_empty() {
            table.remove(path);
        }
        if let Some(mine) = self.by_watcher.get_mut(&watcher) {
            mine.remove(&(kind, path.to_string()));
            if mine.is_empty() {
                self.by_watcher.remove(&watcher);
            }
        }
        if kind == WatchKind::PersistentRecursive {
            self.recursive_count -= 1;
        }
        true
    }

    /// Forgets every watch of a watcher (its connection closed).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(mine) = self.by_watcher.remove(&watcher) else {
            return;
        };
        for (kind, path) in mine {
            let table = &mut self.by_path[kind.index()];
            if let Some(set) = table.get_mut(&path) {
                set.remove(&watcher);
                if set.is_empty() {
                    table.remove(&path);
                }
            }
            if kind == WatchKind::PersistentRecursive {
                self.recursive_count -= 1;
            }
        }
    }

    /// Fires the watches an event on `path` triggers, removing the one-shot
    /// ones. Returns each watcher to notify once, in a stable order.
    pub fn trigger(&mut self, path: &str, event: i32) -> Vec<WatcherId> {
        let mut out: Vec<WatcherId> = Vec::new();
        let mut seen: FastSet<WatcherId> = FastSet::default();
        let one_shot: &[WatchKind] = match event {
            event_type::NODE_CREATED | event_type::NODE_DATA_CHANGED => &[WatchKind::Data],
            event_type::NODE_CHILDREN_CHANGED => &[WatchKind::Child],
            event_type::NODE_DELETED => &[WatchKind::Data, WatchKind::Child],
            _ => &[],
        };
        for &kind in one_shot {
            if let Some(set) = self.by_path[kind.index()].remove(path) {
                for w in set {
                    self.forget(w, kind, path);
                    if seen.insert(w) {
                        out.push(w);
                    }
                }
            }
        }
        if let Some(set) = self.by_path[WatchKind::Persistent.index()].get(path) {
            out.extend(set.iter().copied().filter(|w| seen.insert(*w)));
        }
        if self.recursive_count > 0 && event != event_type::NODE_CHILDREN_CHANGED {
            let table = &self.by_path[WatchKind::PersistentRecursive.index()];
            for prefix in ancestors_and_self(path) {
                if let Some(set) = table.get(prefix) {
                    out.extend(set.iter().copied().filter(|w| seen.insert(*w)));
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn forget(&mut self, watcher: WatcherId, kind: WatchKind, path: &str) {
        if let Some(mine) = self.by_watcher.get_mut(&watcher) {
            mine.remove(&(kind, path.to_string()));
            if mine.is_empty() {
                self.by_watcher.remove(&watcher);
            }
        }
    }

    /// Whether no watch of any kind is set: then no event can notify
    /// anyone, and applying a txn need not make its events.
    pub fn is_empty(&self) -> bool {
        self.by_path.iter().all(|t| t.is_empty())
    }

    /// Total watches (for `wchs` and `mntr`).
    pub fn watch_count(&self) -> usize {
        self.by_path
            .iter()
            .flat_map(|t| t.values())
            .map(|s| s.len())
            .sum()
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: FastSet<&str> = FastSet::default();
        for t in &self.by_path {
            paths.extend(t.keys().map(|k| k.as_str()));
        }
        paths.len()
    }

    /// Watchers with at least one watch.
    pub fn watcher_count(&self) -> usize {
        self.by_watcher.len()
    }

    /// Watchers, paths and watches of one kind (`wchs` reports data
    /// watches only, as ZooKeeper does).
    pub fn summary(&self, kind: WatchKind) -> (usize, usize, usize) {
        let table = &self.by_path[kind.index()];
        let watchers: FastSet<WatcherId> = table.values().flatten().copied().collect();
        let watches = table.values().map(|s| s.len()).sum();
        (watchers.len(), table.len(), watches)
    }

    /// Paths each watcher watches with watches of `kind` (for `wchc`), sorted.
    pub fn by_watcher(&self, kind: WatchKind) -> Vec<(WatcherId, Vec<String>)> {
        let mut map: FastMap<WatcherId, Vec<String>> = FastMap::default();
        for (p, set) in &self.by_path[kind.index()] {
            for w in set {
                map.entry(*w).or_default().push(p.clone());
            }
        }
        let mut out: Vec<(WatcherId, Vec<String>)> = map
            .into_iter()
            .map(|(w, mut paths)| {
                paths.sort();
                (w, paths)
            })
            .collect();
        out.sort();
        out
    }

    /// Watchers of each path with watches of `kind` (for `wchp`), sorted.
    pub fn by_path(&self, kind: WatchKind) -> Vec<(String, Vec<WatcherId>)> {
        let mut out: Vec<(String, Vec<WatcherId>)> = self.by_path[kind.index()]
            .iter()
            .map(|(p, set)| {
                let mut ws: Vec<WatcherId> = set.iter().copied().collect();
                ws.sort();
                (p.clone(), ws)
            })
            .collect();
        out.sort();
        out
    }
}

/// "/a/b/c" yields "/a/b/c", "/a/b", "/a", "/".
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = if cur == "/" {
            None
        } else {
            match cur.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&cur[..i]),
                None => None,
            }
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_type::*;

    #[test]
    fn data_watch_fires_once() {
        let mut m = WatchManager::new();
        m.add("/a", 1, WatchKind::Data);
        assert_eq!(m.trigger("/a", NODE_DATA_CHANGED), vec![1]);
        assert!(m.trigger("/a", NODE_DATA_CHANGED).is_empty());
        assert_eq!(m.watch_count(), 0);
        assert_eq!(m.watcher_count(), 0);
    }

    #[test]
    fn child_watch_ignores_data_changes_and_fires_on_delete() {
        let mut m = WatchManager::new();
        m.add("/a", 1, WatchKind::Child);
        assert!(m.trigger("/a", NODE_DATA_CHANGED).is_empty());
        assert_eq!(m.trigger("/a", NODE_DELETED), vec![1]);
    }

    #[test]
    fn one_event_per_watcher() {
        let mut m = WatchManager::new();
        m.add("/a", 1, WatchKind::Data);
        m.add("/a", 1, WatchKind::Child);
        m.add("/a", 1, WatchKind::Persistent);
        m.add("/", 1, WatchKind::PersistentRecursive);
        m.add("/a", 2, WatchKind::Child);
        assert_eq!(m.trigger("/a", NODE_DELETED), vec![1, 2]);
        // Persistent ones stay.
        assert_eq!(m.trigger("/a", NODE_CREATED), vec![1]);
    }

    #[test]
    fn recursive_skips_children_changed() {
        let mut m = WatchManager::new();
        m.add("/a", 7, WatchKind::PersistentRecursive);
        assert_eq!(m.trigger("/a/b/c", NODE_CREATED), vec![7]);
        assert!(m.trigger("/a", NODE_CHILDREN_CHANGED).is_empty());
        assert!(m.trigger("/ab", NODE_CREATED).is_empty());
        assert!(m.remove("/a", 7, WatchKind::PersistentRecursive));
        assert!(m.trigger("/a/b", NODE_CREATED).is_empty());
    }

    #[test]
    fn remove_watcher_forgets_everything() {
        let mut m = WatchManager::new();
        m.add("/a", 1, WatchKind::Data);
        m.add("/b", 1, WatchKind::PersistentRecursive);
        m.add("/a", 2, WatchKind::Data);
        m.remove_watcher(1);
        assert_eq!(m.trigger("/a", NODE_DELETED), vec![2]);
        assert!(m.trigger("/b/c", NODE_CREATED).is_empty());
        assert_eq!(m.watch_count(), 0);
    }

    #[test]
    fn ancestors() {
        let v: Vec<&str> = ancestors_and_self("/a/b").collect();
        assert_eq!(v, vec!["/a/b", "/a", "/"]);
        let v: Vec<&str> = ancestors_and_self("/").collect();
        assert_eq!(v, vec!["/"]);
    }
}
