//! collectd's names for mount points (the mount table itself is read by `procparse::mounts`).

/// collectd's plugin instance for a mount point: `/` is `root`, others lose the leading `/`
/// and have the others replaced by `-` (`/boot/efi` becomes `boot-efi`).
pub fn instance_name(dir: &str) -> String {
    if dir == "/" {
        return "root".into();
    }
    dir.strip_prefix('/').unwrap_or(dir).replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(instance_name("/"), "root");
        assert_eq!(instance_name("/boot/efi"), "boot-efi");
        assert_eq!(instance_name("/run/user/1000"), "run-user-1000");
    }
}
