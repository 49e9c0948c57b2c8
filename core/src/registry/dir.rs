//! The registry's private directory: where it is, and the checks that make it safe in a
//! shared temp dir.
//!
//! The directory is created mode 0700 and, every time a spooler starts using it, opened
//! without following a link and checked through that open handle: a directory, owned by
//! the effective uid, no group or other permission bits (as tmux checks its socket
//! directory). Anything else fails closed with `MAPI_E_NO_ACCESS` and a message naming
//! the path and the fix. The registry file is then opened relative to that handle, never
//! following a link, and checked the same way.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::geteuid;

use super::RegistryError;
use crate::error::Error;

/// The default registry directory: `$MAPI_LOGOFF_RUNTIME_DIR`, else
/// `$XDG_RUNTIME_DIR/mapi-logoff`, else `/run/user/<euid>/mapi-logoff` where that
/// directory exists, else `<temp dir>/mapi-logoff-<euid>`. Never a name taken from `$USER`.
pub(crate) fn default_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAPI_LOGOFF_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())
        && Path::new(&dir).is_dir()
    {
        return Path::new(&dir).join("mapi-logoff");
    }
    let euid = geteuid().as_raw();
    let run_user = PathBuf::from(format!("/run/user/{euid}"));
    if run_user.is_dir() {
        return run_user.join("mapi-logoff");
    }
    std::env::temp_dir().join(format!("mapi-logoff-{euid}"))
}

fn refuse(path: &Path, problem: &str, fix: &str) -> RegistryError {
    RegistryError {
        error: Error::NoAccess,
        message: format!(
            "the mapi-logoff registry directory {} {problem}; refusing to use it. {fix}",
            path.display()
        ),
    }
}

const FIX: &str = "Remove it, or point MAPI_LOGOFF_RUNTIME_DIR (or the spooler's runtime_dir \
                   option) at a directory of your own with mode 0700.";

/// Creates `path` (mode 0700) if it is missing, opens it without following a link and
/// checks that it is private to the effective uid.
pub(crate) fn open_private_dir(path: &Path) -> Result<OwnedFd, RegistryError> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(RegistryError {
                error: if e.kind() == io::ErrorKind::PermissionDenied {
                    Error::NoAccess
                } else {
                    Error::CallFailed
                },
                message: format!(
                    "cannot create the mapi-logoff registry directory {}: {e}. {FIX}",
                    path.display()
                ),
            });
        }
    }
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP | libc::ENOTDIR)
                if path
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                refuse(path, "is a symbolic link", FIX)
            }
            Some(libc::ELOOP | libc::ENOTDIR) => refuse(path, "is not a directory", FIX),
            Some(libc::EACCES) => refuse(path, "belongs to another user", FIX),
            _ => RegistryError {
                error: Error::CallFailed,
                message: format!(
                    "cannot open the mapi-logoff registry directory {}: {e}",
                    path.display()
                ),
            },
        })?;
    let dir = OwnedFd::from(dir);
    let st = fstat(&dir).map_err(|e| RegistryError::io(path, e.into()))?;
    let euid = geteuid().as_raw();
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFDIR {
        return Err(refuse(path, "is not a directory", FIX));
    }
    if st.st_uid != euid {
        return Err(refuse(
            path,
            &format!("is owned by uid {}, not by uid {euid}", st.st_uid),
            FIX,
        ));
    }
    if st.st_mode & 0o077 != 0 {
        return Err(refuse(
            path,
            &format!(
                "has mode {:04o}: group or others have access",
                st.st_mode & 0o7777
            ),
            &format!(
                "If it is yours, run `chmod 700 {}`; or point MAPI_LOGOFF_RUNTIME_DIR (or \
                 the spooler's runtime_dir option) at a directory of your own with mode 0700.",
                path.display()
            ),
        ));
    }
    Ok(dir)
}

/// Opens (creating it 0600 if missing) the registry file `name` in the private directory
/// `dir`, never following a link, and checks that it is a regular file of ours, private,
/// with no other name.
pub(crate) fn open_registry_file(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
) -> Result<File, RegistryError> {
    let path = dir_path.join(name);
    let fd = openat(
        dir,
        name,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| match e {
        nix::errno::Errno::ELOOP => refuse(&path, "is a symbolic link", FIX),
        e => RegistryError::io(&path, e.into()),
    })?;
    let st = fstat(&fd).map_err(|e| RegistryError::io(&path, e.into()))?;
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFREG {
        return Err(refuse(&path, "is not a regular file", FIX));
    }
    if st.st_uid != geteuid().as_raw() || st.st_mode & 0o077 != 0 || st.st_nlink != 1 {
        return Err(refuse(
            &path,
            "is not a private file of this user (owner, mode or links are wrong)",
            FIX,
        ));
    }
    Ok(File::from(fd))
}
