//! Debian packages a test needs, installed with apt-get when missing (as
//! `scripts/install-deps.sh` does), so that a test never skips for want of a real component.

use std::path::Path;
use std::process::Command;

/// Installs `package` unless `binary` exists; panics, naming both, when that fails. Tests run
/// in parallel processes: one waits for another's apt-get to release the lock.
pub(crate) fn ensure_package(binary: &str, package: &str) {
    if Path::new(binary).exists() {
        return;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get -o DPkg::Lock::Timeout=300 install -y -qq {package} >/dev/null"
        ))
        .status()
        .unwrap_or_else(|e| panic!("cannot run apt-get to install {package}: {e}"));
    assert!(
        status.success() && Path::new(binary).exists(),
        "{binary} is missing and apt-get could not install {package}: run scripts/install-deps.sh"
    );
}

/// Prometheus's `promtool` (Debian's `prometheus`), installed when missing.
pub fn promtool() -> &'static Path {
    const PROMTOOL: &str = "/usr/bin/promtool";
    ensure_package(PROMTOOL, "prometheus");
    Path::new(PROMTOOL)
}
