//! `husk checkpoint [options] ID`: dump a running (or paused) container with CRIU. Without
//! --leave-running or --pre-dump CRIU ends the container's processes after the dump: the
//! container is then stopped (its state says so) and marked as checkpointed, so that a restore
//! under the same id replaces it (runc deletes it at this point). A failed checkpoint changes
//! nothing: CRIU resumes the processes it froze.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cgroups::Cgroup;
use crate::cli::{CheckpointArgs, Cli};
use crate::criu::{self, externals, Criu};
use crate::error::{Context, Error, Kind, Result};
use crate::state::{StateDir, Status};

/// A file in the state directory of a container that a checkpoint stopped.
pub const CHECKPOINTED: &str = "checkpointed";

pub fn checkpoint(cli: &Cli, a: &CheckpointArgs) -> Result<()> {
    let id = a.id.as_str();
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    let status = st.status(dir.path());
    if !matches!(status, Status::Running | Status::Paused) {
        // runc's words.
        return Err(Error::bad_state(format!("Container cannot be checkpointed in {} state", status.as_str())));
    }
    let ctx = || format!("checkpointing container {id}");
    let terminal = st.config.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let image = criu::image_dir(&a.common).with_context(ctx)?;
    let work =
        a.common.work_path.as_deref().map(criu::absolute).transpose().with_context(ctx)?.unwrap_or(image.clone());
    let criu = Criu::probe(cli.criu.as_deref()).with_context(ctx)?;
    criu::make_dir(&image, "image").with_context(ctx)?;
    if let Some(parent) = &a.parent_path {
        // Resolved through the image directory, which must exist first (as runc makes it).
        check_parent(&image, parent).with_context(ctx)?;
    }
    let mut args: Vec<OsString> = vec![if a.pre_dump { "pre-dump" } else { "dump" }.into()];
    args.extend(["-t".into(), st.pid.to_string().into()]);
    args.extend(["-D".into(), image.clone().into(), "-W".into(), work.clone().into()]);
    args.extend(["-o".into(), "dump.log".into(), "-v4".into()]);
    args.extend(["--root".into(), st.rootfs.clone().into()]);
    criu::common_args(&a.common, &mut args).with_context(ctx)?;
    // CRIU freezes the tasks with the cgroup freezer (a paused container stays frozen).
    if let Some(f) = Cgroup::open(&st.cgroup).ok().and_then(|c| c.freezer_dir()) {
        args.extend(["--freeze-cgroup".into(), f.into()]);
    }
    if a.pre_dump {
        args.push("--track-mem".into());
    } else if a.leave_running {
        args.push("--leave-running".into());
    }
    if let Some(parent) = &a.parent_path {
        args.extend(["--track-mem".into(), "--prev-images-dir".into(), parent.clone().into()]);
    }
    if let Some(ps) = &a.page_server {
        let (addr, port) = ps
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            .ok_or_else(|| Error::invalid_arg(format!("--page-server {ps:?}: expected ADDRESS:PORT")))
            .with_context(ctx)?;
        args.extend(["--page-server".into(), "--address".into(), addr.into(), "--port".into(), port.into()]);
    }
    if a.status_fd >= 0 {
        args.extend(["--status-fd".into(), a.status_fd.to_string().into()]);
    }
    let descriptors = externals::init_descriptors(st.pid);
    if !a.pre_dump {
        let binds =
            externals::bind_mounts(&st.config, &st.bundle, &st.rootfs, &st.cgroup.fs_path()).with_context(ctx)?;
        let masked = externals::masked_files(&st.config, st.pid);
        let ext = externals::dump_externals(&st.config, &binds, &masked).with_context(ctx)?;
        criu::external_args(&ext, &mut args);
    }
    // A terminal: the pty's master is held outside the container (the console socket's
    // receiver), so its slave is an external tty for CRIU, and /dev/console (a bind of that
    // slave) an external mount; restore supplies a new pty's slave for both.
    let tty = if terminal { Some(externals::console_tty(st.pid).with_context(ctx)?) } else { None };
    if let Some(key) = &tty {
        args.extend(["--external".into(), key.into()]);
        args.extend(["--external".into(), format!("mnt[/dev/console]:{}", externals::CONSOLE).into()]);
    }
    criu::make_dir(&work, "work").with_context(ctx)?;
    if !a.pre_dump {
        externals::write_descriptors(&image, &descriptors).with_context(ctx)?;
        if let Some(key) = &tty {
            externals::write_tty_key(&image, key).with_context(ctx)?;
        }
    }
    let what = if a.pre_dump { "pre-dump" } else { "dump" };
    criu.run(what, &args, &[], &work.join("dump.log"), &[]).with_context(ctx)?;
    if !a.pre_dump && !a.leave_running {
        // The processes are gone: the container is stopped; note why for `restore`.
        std::fs::write(dir.path().join(CHECKPOINTED), image.to_string_lossy().as_bytes())
            .map_err(|e| Error::io(e, format!("marking container {id} as checkpointed")))?;
    }
    Ok(())
}

/// runc's check: --parent-path is relative to the image path and must be a directory there.
fn check_parent(image: &std::path::Path, parent: &std::path::Path) -> Result<()> {
    if parent.is_absolute() {
        return Err(Error::invalid_arg("--parent-path must be relative (to --image-path)"));
    }
    let real: PathBuf = image.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            Err(Error::new(Kind::InvalidArg, format!("invalid --parent-path: {}: not a directory", real.display())))
        }
        Err(e) => Err(Error::io(e, format!("invalid --parent-path {}", real.display()))),
    }
}
