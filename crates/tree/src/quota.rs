//! ZooKeeper's quota bookkeeping (`DataTree` with its `PathTrie`):
//! creating `/zookeeper/quota/<p>/zookeeper_limits` puts `<p>` under
//! quota; the `zookeeper_stats` node beside it holds
//! `count=<nodes>,bytes=<data bytes>` of `<p>`'s subtree, which every
//! create, delete and setData below `<p>` updates in place (the stats
//! node's own stat does not change, and, as in ZooKeeper, the approximate
//! data size does not follow). Limits are not enforced (ZooKeeper's
//! default, `zookeeper.enforceQuota=false`).

use crate::tree::DataTree;

/// Where quota nodes live.
pub const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The node whose existence puts a path under quota.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The node holding a quota path's counts.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `PathTrie.split`: the non-blank components, rejoined.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.trim().is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// `StatsTrack`: `key=value` pairs, count and bytes first.
fn update_stats(text: &str, count_diff: i64, bytes_diff: i64) -> Option<String> {
    let mut pairs: Vec<(String, i64)> = Vec::new();
    for kv in text.split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=')?;
        let v: i64 = v.split('=').next()?.parse().ok()?;
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v));
    }
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map_or(-1, |p| p.1);
    let count = get("count").wrapping_add(count_diff);
    let bytes = get("bytes").wrapping_add(bytes_diff);
    let mut out = format!("count={count},bytes={bytes}");
    for (k, v) in pairs.iter().filter(|(k, _)| k != "count" && k != "bytes") {
        out.push_str(&format!(",{k}={v}"));
    }
    Some(out)
}

impl DataTree {
    /// The deepest quota path that is `path` or an ancestor of it
    /// (`getMaxPrefixWithQuota`); never the root.
    fn quota_prefix(&self, path: &str) -> Option<String> {
        if self.quotas.is_empty() {
            return None;
        }
        let mut p = normalize(path);
        while p.len() > 1 {
            if self.quotas.contains(&p) {
                return Some(p);
            }
            p.truncate(p.rfind('/').unwrap_or(0).max(1));
        }
        None
    }

    /// `updateQuotaStat`: adjusts the stats node of quota path `prefix`.
    fn bump_quota(&mut self, prefix: &str, count_diff: i64, bytes_diff: i64) {
        let stat_path = format!("{QUOTA_ROOT}{prefix}/{STAT_NODE}");
        let Some(i) = self.store.find(&stat_path) else {
            return;
        };
        let text = String::from_utf8_lossy(self.store.node(i).data()).into_owned();
        if let Some(new) = update_stats(&text, count_diff, bytes_diff) {
            self.replace_data_quietly(i, new.as_bytes());
        }
    }

    /// `updateQuotaForPath`: recounts `path`'s subtree into its stats node.
    fn recount_quota(&mut self, path: &str) {
        let stat_path = format!("{QUOTA_ROOT}{path}/{STAT_NODE}");
        let Some(stat) = self.store.find(&stat_path) else {
            return;
        };
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack: Vec<u32> = self.store.find(path).into_iter().collect();
        while let Some(i) = stack.pop() {
            count += 1;
            bytes += self.store.node(i).data().len() as i64;
            stack.extend(self.store.children(i));
        }
        let text = format!("count={count},bytes={bytes}");
        self.replace_data_quietly(stat, text.as_bytes());
    }

    /// After `path` (child `name` of `parent`) was created with `len` bytes.
    pub(crate) fn quota_created(&mut self, path: &str, parent: &str, name: &str, len: usize) {
        if let Some(target) = parent.strip_prefix(QUOTA_ROOT) {
            if name == LIMIT_NODE {
                self.quotas.insert(normalize(target));
            }
            if name == STAT_NODE {
                self.recount_quota(target);
            }
        }
        if let Some(prefix) = self.quota_prefix(path) {
            self.bump_quota(&prefix, 1, len as i64);
        }
    }

    /// After `path` (child `name` of `parent`) holding `len` bytes was
    /// deleted. Dropping a limit node drops every quota at or below its
    /// path (ZooKeeper deletes the trie node with its subtree).
    pub(crate) fn quota_deleted(&mut self, path: &str, parent: &str, name: &str, len: usize) {
        if name == LIMIT_NODE {
            if let Some(target) = parent.strip_prefix(QUOTA_ROOT) {
                let gone = normalize(target);
                let below = format!("{gone}/");
                self.quotas.retain(|q| *q != gone && !q.starts_with(&below));
            }
        }
        if let Some(prefix) = self.quota_prefix(path) {
            self.bump_quota(&prefix, -1, -(len as i64));
        }
    }

    /// After `path`'s data changed length by `bytes_diff`.
    pub(crate) fn quota_set(&mut self, path: &str, bytes_diff: i64) {
        if let Some(prefix) = self.quota_prefix(path) {
            self.bump_quota(&prefix, 0, bytes_diff);
        }
    }

    /// `setupQuota` after loading: every leaf `.../zookeeper_limits` under
    /// the quota root puts its path under quota and recounts it.
    pub(crate) fn rebuild_quotas(&mut self) {
        self.quotas.clear();
        let Some(root) = self.store.find(QUOTA_ROOT) else {
            return;
        };
        let mut leaves = Vec::new();
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let n = self.store.node(i);
            if n.child_count() == 0 {
                let suffix = format!("/{LIMIT_NODE}");
                if let Some(real) = n.path().strip_suffix(suffix.as_str()) {
                    leaves.push(real[QUOTA_ROOT.len()..].to_string());
                }
            }
            stack.extend(self.store.children(i));
        }
        leaves.sort();
        for real in leaves {
            self.recount_quota(&real);
            self.quotas.insert(normalize(&real));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text() {
        assert_eq!(
            update_stats("count=0,bytes=0", 1, 5).as_deref(),
            Some("count=1,bytes=5")
        );
        assert_eq!(update_stats("", 1, 5).as_deref(), Some("count=0,bytes=4"));
        assert_eq!(
            update_stats("bytes=3,count=1,countHardLimit=9", 1, 1).as_deref(),
            Some("count=2,bytes=4,countHardLimit=9")
        );
        assert_eq!(update_stats("garbage", 1, 1), None);
        assert_eq!(normalize("//a//b/"), "/a/b");
    }
}
