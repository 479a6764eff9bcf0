//! Files leave the sandbox only through a descriptor.
//!
//! The job folder is written by the job's (hostile) code, so a name in it may be a symlink to a
//! host file, a hard link, a FIFO or a device, and may change between a check and a use. Each
//! expected file is therefore opened once, relative to a descriptor of the job folder, without
//! following links; that descriptor is checked (a regular file, one link, owned by the sandbox's
//! user, within the size limit) and copied from into a new file the worker owns. The name is
//! never resolved again.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use shared::job::OutputFormat;

/// Why an expected file was not collected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error("FreeCAD did not write the {0} file")]
    Missing(&'static str),
    #[error("the {format} file was refused: {reason}")]
    Refused {
        format: &'static str,
        reason: String,
    },
    #[error("collecting the files: {0}")]
    Io(#[from] std::io::Error),
}

/// What a collected file must be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expectations {
    /// The user the sandbox runs as (who must have written the file).
    pub owner: u32,
    /// The largest file accepted.
    pub max_bytes: u64,
}

/// Copies each format's file out of `job_dir` into `into` (a folder the worker owns), through
/// descriptors only; returns the copies.
pub(crate) fn collect(
    job_dir: &Path,
    formats: &[OutputFormat],
    expect: Expectations,
    into: &Path,
) -> Result<Vec<(OutputFormat, PathBuf)>, CollectError> {
    let dir = rustix::fs::open(
        job_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)?;
    let mut files = Vec::with_capacity(formats.len());
    for &format in formats {
        let source = open_checked(&dir, format, expect)?;
        let target = into.join(format.file_name());
        copy_bounded(source, &target, format, expect.max_bytes)?;
        files.push((format, target));
    }
    Ok(files)
}

/// Opens one file relative to the folder's descriptor and checks what it is.
fn open_checked(
    dir: &rustix::fd::OwnedFd,
    format: OutputFormat,
    expect: Expectations,
) -> Result<File, CollectError> {
    let refuse = |reason: String| CollectError::Refused {
        format: format.as_str(),
        reason,
    };
    let flags = OFlags::RDONLY
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK // a FIFO must not block the worker
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, format.file_name(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Err(CollectError::Missing(format.as_str())),
        Err(Errno::LOOP) => return Err(refuse("it is a symbolic link".to_owned())),
        Err(error) => return Err(std::io::Error::from(error).into()),
    };
    let stat = rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(refuse("it is not a regular file".to_owned()));
    }
    if stat.st_nlink != 1 {
        return Err(refuse(format!("it has {} links", stat.st_nlink)));
    }
    if stat.st_uid != expect.owner {
        return Err(refuse(format!(
            "it belongs to user {}, not to the sandbox's user {}",
            stat.st_uid, expect.owner
        )));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > expect.max_bytes {
        return Err(refuse(format!(
            "it is {size} bytes, over the limit of {}",
            expect.max_bytes
        )));
    }
    Ok(File::from(fd))
}

/// Copies at most `max_bytes` from the descriptor into a new file (never an existing one).
fn copy_bounded(
    source: File,
    target: &Path,
    format: OutputFormat,
    max_bytes: u64,
) -> Result<(), CollectError> {
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)?;
    // The file may still grow after fstat only if something still writes it; the bound holds.
    let copied = std::io::copy(&mut source.take(max_bytes + 1), &mut output)?;
    if copied > max_bytes {
        drop(output);
        std::fs::remove_file(target)?;
        return Err(CollectError::Refused {
            format: format.as_str(),
            reason: format!("it grew over the limit of {max_bytes} bytes"),
        });
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn expectations(dir: &Path) -> Expectations {
        Expectations {
            owner: std::fs::metadata(dir).unwrap().uid(),
            max_bytes: 1024,
        }
    }

    fn collect_step(job: &Path, expect: Expectations) -> Result<Vec<u8>, CollectError> {
        let out = tempfile::tempdir().unwrap();
        let files = collect(job, &[OutputFormat::Step], expect, out.path())?;
        Ok(std::fs::read(&files[0].1).unwrap())
    }

    #[test]
    fn a_regular_file_is_copied() {
        let job = tempfile::tempdir().unwrap();
        std::fs::write(job.path().join("design.step"), b"ISO-10303-21;").unwrap();
        let bytes = collect_step(job.path(), expectations(job.path())).unwrap();
        assert_eq!(bytes, b"ISO-10303-21;");
    }

    #[test]
    fn links_fifos_other_owners_and_big_files_are_refused() {
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), b"SECRET").unwrap();
        let job = tempfile::tempdir().unwrap();
        let step = job.path().join("design.step");
        let expect = expectations(job.path());

        std::os::unix::fs::symlink(secret.path(), &step).unwrap();
        let error = collect_step(job.path(), expect).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        std::fs::remove_file(&step).unwrap();

        std::fs::hard_link(secret.path(), &step).unwrap();
        let error = collect_step(job.path(), expect).unwrap_err();
        assert!(error.to_string().contains("2 links"), "{error}");
        std::fs::remove_file(&step).unwrap();

        std::fs::write(&step, vec![b'x'; 2000]).unwrap();
        let error = collect_step(job.path(), expect).unwrap_err();
        assert!(error.to_string().contains("over the limit"), "{error}");
        std::fs::remove_file(&step).unwrap();

        std::fs::write(&step, b"x").unwrap();
        let stranger = Expectations {
            owner: expect.owner + 1,
            ..expect
        };
        let error = collect_step(job.path(), stranger).unwrap_err();
        assert!(error.to_string().contains("belongs to user"), "{error}");
        std::fs::remove_file(&step).unwrap();

        std::fs::create_dir(&step).unwrap();
        let error = collect_step(job.path(), expect).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        std::fs::remove_dir(&step).unwrap();

        let error = collect_step(job.path(), expect).unwrap_err();
        assert!(matches!(error, CollectError::Missing("step")), "{error}");
    }
}
