//! A socket's cgroup id to its container and pod.
//!
//! hostNetwork pods share their node's address, so an address cannot tell
//! them apart. The eBPF probe records the cgroup id of the process that
//! opened a socket; under cgroup v2 that id is the inode number of the
//! cgroup's directory, and the kubelet names those directories after the
//! pod uid and the container id, whatever the runtime and cgroup driver:
//!
//! ```text
//! systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
//! cgroupfs: /kubepods/burstable/pod<uid>/<id>
//! CRI-O:    .../crio-<id>.scope     Docker: .../docker-<id>.scope
//! ```
//!
//! The tree is walked again when an unknown id is asked for, at most every
//! [`RESCAN`], and to a bounded depth and size.
//!
//! The root given is where the host's cgroup filesystem is. On a node in
//! cgroup v1 "hybrid" mode that is a tmpfs of v1 hierarchies with the v2
//! tree (the one whose ids the probe reports) at `unified/`; [`v2_root`]
//! finds it.

use rustc_hash::FxHashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Unknown ids trigger a new walk at most this often.
pub const RESCAN: Duration = Duration::from_secs(2);
/// Directories remembered (a node with a few hundred pods has thousands).
pub const MAX_ENTRIES: usize = 65_536;
const MAX_DEPTH: usize = 10;

/// The cgroup v2 tree at or under `root`: `root` itself when it is a v2
/// mount (it has `cgroup.controllers`), else its `unified/` when that is
/// (systemd's hybrid mode), else `root` unchanged.
pub fn v2_root(root: &Path) -> PathBuf {
    let is_v2 = |p: &Path| p.join("cgroup.controllers").exists();
    let unified = root.join("unified");
    if !is_v2(root) && is_v2(&unified) {
        unified
    } else {
        root.to_path_buf()
    }
}

/// What a cgroup's path says about who runs in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupOwner {
    /// A 64-hex-digit container id.
    pub container: Option<String>,
    /// The pod's uid, with dashes.
    pub pod_uid: Option<String>,
}

/// cgroup id -> owner, from walking the cgroup v2 tree at `root`.
pub struct Cgroups {
    root: PathBuf,
    by_id: FxHashMap<u64, CgroupOwner>,
    last_walk: Option<Instant>,
    /// Walks made (for the agent's health figures).
    pub walks: u64,
}

impl Cgroups {
    /// The tree at `root` (or its `unified/` v2 tree, see [`v2_root`]).
    pub fn new(root: impl Into<PathBuf>) -> Cgroups {
        Cgroups {
            root: v2_root(&root.into()),
            by_id: FxHashMap::default(),
            last_walk: None,
            walks: 0,
        }
    }

    /// Who runs in cgroup `id` (a Kubernetes container or pod), walking the
    /// tree again if `id` is new and the last walk is old enough.
    pub fn owner(&mut self, id: u64) -> Option<&CgroupOwner> {
        if !self.by_id.contains_key(&id) && self.last_walk.is_none_or(|t| t.elapsed() >= RESCAN) {
            self.walk();
        }
        self.by_id.get(&id)
    }

    /// Every cgroup's id and owner, walking the tree again when the last
    /// walk is [`RESCAN`] old.
    pub fn all(&mut self) -> impl Iterator<Item = (u64, &CgroupOwner)> {
        if self.last_walk.is_none_or(|t| t.elapsed() >= RESCAN) {
            self.walk();
        }
        self.by_id.iter().map(|(id, owner)| (*id, owner))
    }

    fn walk(&mut self) {
        self.last_walk = Some(Instant::now());
        self.walks += 1;
        let mut found = FxHashMap::default();
        let mut stack = vec![(self.root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                if !ft.is_dir() || found.len() >= MAX_ENTRIES {
                    continue;
                }
                let path = e.path();
                // Every directory, so that ids of cgroups outside
                // Kubernetes (system services) are known too and do not
                // cause walks of their own.
                if let Ok(meta) = e.metadata() {
                    found.insert(meta.ino(), parse(relative(&self.root, &path)));
                }
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
            }
        }
        self.by_id = found;
    }
}

fn relative<'a>(root: &Path, path: &'a Path) -> &'a str {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_str()
        .unwrap_or("")
}

/// Reads the container id and pod uid out of a cgroup path.
pub fn parse(path: &str) -> CgroupOwner {
    let mut owner = CgroupOwner::default();
    for part in path.split('/') {
        if let Some(uid) = pod_uid(part) {
            owner.pod_uid = Some(uid);
        }
        if let Some(id) = container_id(part) {
            owner.container = Some(id.to_string());
        }
    }
    owner
}

fn container_id(part: &str) -> Option<&str> {
    let id = part.strip_suffix(".scope").unwrap_or(part);
    let id = id.rsplit(['-', ':']).next().unwrap_or(id);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// `pod<uuid>` or `kubepods-besteffort-pod<uuid_with_underscores>.slice`.
fn pod_uid(part: &str) -> Option<String> {
    let part = part.strip_suffix(".slice").unwrap_or(part);
    let at = part.rfind("pod")?;
    let uid = &part[at + 3..];
    let ok = uid.len() == 36
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    ok.then(|| uid.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "5f3c2a7e-1b2c-4d5e-8f90-123456789abc";

    #[test]
    fn systemd_driver_paths() {
        let p = format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        );
        let o = parse(&p);
        assert_eq!(o.container.as_deref(), Some(ID));
        assert_eq!(o.pod_uid.as_deref(), Some(UID));
    }

    #[test]
    fn cgroupfs_crio_and_docker_paths() {
        let o = parse(&format!("kubepods/besteffort/pod{UID}/{ID}"));
        assert_eq!(
            (o.container.as_deref(), o.pod_uid.as_deref()),
            (Some(ID), Some(UID))
        );
        assert_eq!(
            parse(&format!("x/crio-{ID}.scope")).container.as_deref(),
            Some(ID)
        );
        assert_eq!(
            parse(&format!("system.slice/docker-{ID}.scope"))
                .container
                .as_deref(),
            Some(ID)
        );
        assert_eq!(
            parse("user.slice/user-0.slice/session-1.scope"),
            CgroupOwner::default()
        );
    }

    #[test]
    fn ids_are_inode_numbers_of_the_tree() {
        let root = tempfile_dir();
        let dir = root.join(format!("kubepods/pod{UID}/{ID}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ino = std::fs::metadata(&dir).unwrap().ino();
        let mut c = Cgroups::new(&root);
        let o = c.owner(ino).cloned().unwrap();
        assert_eq!(o.container.as_deref(), Some(ID));
        assert_eq!(c.walks, 1);
        assert!(c.owner(1).is_none(), "unknown id");
        assert_eq!(c.walks, 1, "no second walk within RESCAN");
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("podwire-cgroup-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
