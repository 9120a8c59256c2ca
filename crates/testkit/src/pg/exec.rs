//! Finding PostgreSQL's programs and running them as the `postgres` user.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, every program goes through
//! `runuser -u postgres --` and the files it needs are chowned to `postgres`; otherwise programs
//! run directly as the current user.

use std::env;
use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::procs;

/// Where the binaries are when `LIFELINE_PG_BIN` does not say otherwise (Debian's postgresql 15).
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Environment variables of libpq that would change where our programs connect.
const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGDATA",
];

/// The PostgreSQL installation and the user its programs run as.
#[derive(Debug)]
pub(crate) struct Install {
    /// Directory holding initdb, pg_ctl, postgres, psql, pg_basebackup.
    bin: PathBuf,
    /// `(uid, gid)` of `postgres` when we are root and must switch to it; `None` otherwise.
    owner: Option<(u32, u32)>,
}

// === impl Install ===

impl Install {
    /// The installation, found once per process. Panics with install instructions if missing.
    pub(crate) fn get() -> &'static Install {
        static INSTALL: OnceLock<Install> = OnceLock::new();
        INSTALL.get_or_init(Install::detect)
    }

    fn detect() -> Install {
        let bin = env::var_os("LIFELINE_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
        for program in ["initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"] {
            if !bin.join(program).is_file() {
                panic!(
                    "PostgreSQL is not installed: {} is missing. Run scripts/install-deps.sh \
                     (Debian's postgresql 15), or point LIFELINE_PG_BIN at a bin directory.",
                    bin.join(program).display()
                );
            }
        }
        let owner = (procs::euid() == 0).then(postgres_ids);
        Install { bin, owner }
    }

    /// A command for `program` from the bin directory, run as `postgres` if needed, in `cwd`.
    pub(crate) fn command(&self, program: &str, cwd: &Path) -> Command {
        let path = self.bin.join(program);
        let mut command = match self.owner {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        for var in LIBPQ_ENV {
            command.env_remove(var);
        }
        command.current_dir(cwd).stdin(Stdio::null());
        command
    }

    /// Gives `path` to `postgres` when the programs run as `postgres`.
    pub(crate) fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot chown {} to postgres: {e}", path.display()));
        }
    }
}

/// Runs `command` to completion; `Err` carries the exit status and stderr.
pub(crate) fn run(command: &mut Command) -> Result<String, String> {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .map_err(|e| format!("cannot spawn {command:?}: {e}"))?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    } else {
        Err(format!(
            "{status}\nstderr:\n{}{}",
            String::from_utf8_lossy(&stderr),
            String::from_utf8_lossy(&stdout)
        ))
    }
}

/// `(uid, gid)` of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd")
        .unwrap_or_else(|e| panic!("cannot read /etc/passwd to find the postgres user: {e}"));
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .unwrap_or_else(|| {
            panic!(
                "running as root but there is no `postgres` user to run PostgreSQL as. \
                 Run scripts/install-deps.sh (Debian's postgresql package creates it)."
            )
        })
}

/// `n` random bytes from the kernel, as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .unwrap_or_else(|e| panic!("cannot read /dev/urandom: {e}"));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
