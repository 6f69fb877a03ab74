//! husk's entry point: argv → command → exit status. Errors go to stderr and, with
//! `--log`, to the log file in runc's format (containerd and conmon read the last line).

use std::process::ExitCode;

use clap::Parser;
use husk::cli::Cli;
use husk::{commands, logging};

fn main() -> ExitCode {
    // Started by CRIU as the action script of a restore (src/criu/action.rs).
    if let Some(code) = husk::criu::action::from_env() {
        return ExitCode::from(code as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        return match logging::stdout(&format!("husk version {}\n", husk::VERSION)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    // Not dumpable: with a container sharing the host pid namespace, its root could otherwise
    // open /proc/<husk pid>/exe and overwrite the host binary later (CVE-2019-5736).
    // Rootless: stay dumpable, or the init's /proc files (uid_map, setgroups, oom_score_adj)
    // would belong to the host's root and neither we nor the init could write them; the host
    // binary is then not writable by any id the container has anyway.
    if nix::unistd::geteuid().is_root() {
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("opening log file {}: {e}", cli.log.as_deref().unwrap_or(std::path::Path::new("")).display());
        return ExitCode::from(1);
    }
    let Some(cmd) = &cli.command else {
        eprintln!("husk: no command given (try --help)");
        return ExitCode::from(1);
    };
    match commands::dispatch(&cli, cmd) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let msg = e.to_string();
            // runc: the log line goes to --log (or stderr); with a log file the bare message
            // is printed on stderr too.
            logging::error(&msg);
            if logging::has_file() {
                eprintln!("{msg}");
            }
            // runc 1.1 exits 255 when exec itself fails (1 for every other command).
            ExitCode::from(if matches!(cmd, husk::cli::Command::Exec(_)) { 255 } else { 1 })
        }
    }
}
