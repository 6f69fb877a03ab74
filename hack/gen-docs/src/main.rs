//! `husk-gen-docs OUTDIR`: husk's man pages and shell completions, generated from the clap
//! definitions husk itself parses its command line with (`husk::cli::Cli`):
//!
//! - `OUTDIR/man/husk.8` and one `husk-COMMAND.8` per command clap knows (every visible
//!   subcommand: a command added to src/cli.rs gets its page without a change here), each with
//!   every option clap defines, then the sections runc's pages have and clap does not know:
//!   exit status, environment, files, examples, see also (the prose below, by command name;
//!   a command without an entry still gets the common sections).
//! - `OUTDIR/completions/husk.bash`, `_husk` (zsh) and `husk.fish`.
//!
//! A separate tool rather than a hidden `husk` subcommand: the renderer and the generators are not
//! linked into the shipped binary (its size and start-up stay as they are), and the pages still
//! cannot drift from the binary: both come from the same `Cli` type.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

fn main() -> io::Result<()> {
    let out = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/docs"));
    let mut cmd = husk::cli::Cli::command();
    cmd.build();
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    let mut pages = vec![man.join("husk.8")];
    fs::write(&pages[0], page(&cmd, None)?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let path = man.join(format!("husk-{}.8", sub.get_name()));
        fs::write(&path, page(&cmd, Some(sub))?)?;
        pages.push(path);
    }
    let comp = out.join("completions");
    fs::create_dir_all(&comp)?;
    for (shell, file) in [(Shell::Bash, "husk.bash"), (Shell::Zsh, "_husk"), (Shell::Fish, "husk.fish")] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "husk", &mut buf);
        fs::write(comp.join(file), buf)?;
        pages.push(comp.join(file));
    }
    for p in pages {
        println!("{}", p.display());
    }
    Ok(())
}

/// The page of `husk` (sub = None) or of `husk SUB`.
fn page(root: &Command, sub: Option<&Command>) -> io::Result<Vec<u8>> {
    let (name, cmd) = match sub {
        None => ("husk".to_string(), root.clone()),
        Some(s) => {
            let n = format!("husk-{}", s.get_name());
            (n.clone(), s.clone().display_name(n).bin_name(format!("husk {}", s.get_name())))
        }
    };
    let version = root.get_version().unwrap_or_default().lines().next().unwrap_or_default().to_string();
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("8")
        .source(format!("husk {version}"))
        .manual("System Manager's Manual")
        .date(date());
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    if sub.is_some() {
        man.render_synopsis_section(&mut w)?;
    } else {
        // runc(8)'s synopsis, rather than every global option.
        writeln!(
            w,
            ".SH SYNOPSIS\n\\fBhusk\\fR [\\fIglobal options\\fR] \\fIcommand\\fR [\\fIcommand options\\fR] [\\fIarguments\\fR ...]"
        )?;
    }
    if sub.is_some() {
        man.render_description_section(&mut w)?;
    } else {
        // husk --help's description: paragraphs, and the indented lines as a literal block.
        writeln!(w, ".SH DESCRIPTION")?;
        for para in husk::cli::DESCRIPTION.trim().split("\n\n") {
            if para.starts_with("    ") {
                writeln!(w, ".PP\n.RS 4\n.nf\n{}\n.fi\n.RE", roff(para.trim()))?;
            } else {
                writeln!(w, ".PP\n{}", roff(para))?;
            }
        }
    }
    let extra = sub.map(|s| extras(s.get_name())).unwrap_or_default();
    for p in extra.description {
        writeln!(w, ".PP\n{}", roff(p))?;
    }
    if sub.is_none() {
        // The global options, then the commands with a pointer to each page.
        writeln!(w, ".SH \"GLOBAL OPTIONS\"")?;
        render_options(&mut w, &cmd)?;
        writeln!(w, ".SH COMMANDS")?;
        let mut subs: Vec<_> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
        subs.sort_by_key(|s| s.get_name());
        for s in subs {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            writeln!(
                w,
                ".TP\n\\fB{}\\fR\n{}. See \\fBhusk\\-{}\\fR(8).",
                s.get_name(),
                roff(about.trim_end_matches('.')),
                s.get_name()
            )?;
        }
    } else {
        writeln!(w, ".SH OPTIONS")?;
        render_options(&mut w, &cmd)?;
        writeln!(
            w,
            ".PP\nThe global options of \\fBhusk\\fR(8) (\\fB\\-\\-root\\fR, \\fB\\-\\-log\\fR, \
             \\fB\\-\\-log\\-format\\fR, \\fB\\-\\-debug\\fR, \\fB\\-\\-systemd\\-cgroup\\fR, \
             \\fB\\-\\-rootless\\fR) go before the command name."
        )?;
    }
    writeln!(w, ".SH \"EXIT STATUS\"")?;
    let exit = extra.exit.unwrap_or(if sub.is_none() { ROOT_EXIT } else { COMMON_EXIT });
    for (code, what) in exit {
        writeln!(w, ".TP\n\\fB{code}\\fR\n{}", roff(what))?;
    }
    writeln!(w, ".SH ENVIRONMENT")?;
    for (var, what) in ENVIRONMENT.iter().filter(|(v, _)| sub.is_none() || extra.env.contains(v)) {
        writeln!(w, ".TP\n\\fB{var}\\fR\n{}", roff(what))?;
    }
    if sub.is_some() && extra.env.is_empty() {
        writeln!(w, ".PP\nXDG_RUNTIME_DIR and USER choose the default \\fB\\-\\-root\\fR (see \\fBhusk\\fR(8)).")?;
    }
    writeln!(w, ".SH FILES")?;
    for (file, what) in FILES.iter().filter(|(f, _)| sub.is_none() || !f.contains("config.json") || extra.bundle) {
        writeln!(w, ".TP\n\\fI{}\\fR\n{}", roff(file), roff(what))?;
    }
    let examples = if sub.is_none() { ROOT_EXAMPLES } else { extra.examples };
    if !examples.is_empty() {
        writeln!(w, ".SH EXAMPLES")?;
        for (what, cmdline) in examples {
            writeln!(w, ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE", roff(what), roff(cmdline))?;
        }
    }
    writeln!(w, ".SH \"SEE ALSO\"")?;
    let mut see: Vec<String> = match sub {
        None => root.get_subcommands().filter(|s| !s.is_hide_set()).map(|s| format!("husk-{}", s.get_name())).collect(),
        Some(_) => std::iter::once("husk".to_string()).chain(extra.see.iter().map(|s| s.to_string())).collect(),
    };
    see.sort();
    let refs: Vec<String> = see.iter().map(|s| format!("\\fB{}\\fR(8)", roff(s))).collect();
    writeln!(w, "{}, \\fBrunc\\fR(8)", refs.join(", "))?;
    // The version this page describes (husk --version's lines).
    writeln!(w, ".SH VERSION")?;
    for line in root.get_version().unwrap_or_default().lines() {
        writeln!(w, "{}\n.br", roff(line))?;
    }
    Ok(w)
}

/// clap_mangen's option list under our own heading (its section is named OPTIONS; husk(8)'s are
/// runc's GLOBAL OPTIONS): the section's `.SH` line is dropped.
fn render_options(w: &mut Vec<u8>, cmd: &Command) -> io::Result<()> {
    // clap_mangen leaves visible aliases out (update's --cpu-shares): name them in the help.
    let mut cmd = cmd.clone();
    let aliased: Vec<(String, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let longs = a.get_visible_aliases()?;
            let names: Vec<String> = longs.iter().map(|l| format!("--{l}")).collect();
            Some((a.get_id().to_string(), names.join(", ")))
        })
        .collect();
    for (id, names) in aliased {
        cmd = cmd.mut_arg(id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help} (also {names})"))
        });
    }
    let mut buf = Vec::new();
    Man::new(cmd).render_options_section(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    for line in text.lines().filter(|l| !l.starts_with(".SH")) {
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// The page date: SOURCE_DATE_EPOCH (reproducible builds: the package build sets it from the
/// commit), else today.
fn date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    });
    let (y, m, d) = husk::logging::civil_from_days(secs.div_euclid(86400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Escapes text for roff: backslashes, hyphens (as minus signs, for copy and paste and search),
/// a leading control character on any line.
fn roff(s: impl AsRef<str>) -> String {
    s.as_ref()
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

type Pairs = &'static [(&'static str, &'static str)];

/// What a command's page adds to clap's text.
#[derive(Default)]
struct Extra {
    description: &'static [&'static str],
    exit: Option<Pairs>,
    env: &'static [&'static str],
    bundle: bool,
    examples: Pairs,
    see: &'static [&'static str],
}

const ROOT_EXIT: Pairs = &[
    ("0", "The command succeeded (for run and exec: see the exit status of their pages)."),
    ("1", "The command failed, or the command line was not valid; the reason is written to standard error (and to --log)."),
];
const COMMON_EXIT: Pairs = &[
    ("0", "The command succeeded."),
    ("1", "The command failed (the container does not exist, is in the wrong state, the system refused an operation), or the command line was not valid. The reason is written to standard error, and to the log file with --log."),
];
const RUN_EXIT: Pairs = &[
    ("0", "With --detach: the container was created and started. Without: its process exited with status 0."),
    ("N", "Without --detach: the exit status of the container's process; 128+S when a signal S ended it."),
    ("1", "The container could not be created or started (the reason on standard error), or the command line was not valid."),
];
const EXEC_EXIT: Pairs = &[
    ("0", "With --detach: the process was started. Without: it exited with status 0."),
    ("N", "Without --detach: the exit status of the process; 128+S when a signal S ended it."),
    ("255", "The process could not be started in the container (as runc 1.1: the reason on standard error)."),
    ("1", "The command line was not valid."),
];

const ENVIRONMENT: Pairs = &[
    ("XDG_RUNTIME_DIR", "For a caller that is not root (or is root in a user namespace without USER=root), the default --root is $XDG_RUNTIME_DIR/husk, as runc's."),
    ("USER", "Read with XDG_RUNTIME_DIR to tell a rootless caller in a user namespace from the host's root."),
    ("NOTIFY_SOCKET", "create and run: systemd's sd_notify socket. The container gets a socket of its own at /run/notify/notify.sock and what its process sends there (READY=1, ...) is relayed to this socket once the container is started."),
    ("LISTEN_FDS, LISTEN_PID", "create and run: socket activation. When LISTEN_PID is husk's pid, the LISTEN_FDS descriptors after standard error are passed to the container's process, with LISTEN_FDS and LISTEN_PID=1 in its environment."),
];
const ENV_CREATE: &[&str] = &["NOTIFY_SOCKET", "LISTEN_FDS, LISTEN_PID"];

const FILES: Pairs = &[
    ("/run/husk", "The default state directory (--root) for root: one directory per container, holding its state.json. It should be on a tmpfs, as state must not survive a reboot."),
    ("$XDG_RUNTIME_DIR/husk", "The default state directory for a rootless caller."),
    ("BUNDLE/config.json", "The container's configuration (OCI runtime-spec), read from the bundle directory (--bundle, default the current directory), with the root filesystem it names (usually BUNDLE/rootfs)."),
];

const ROOT_EXAMPLES: Pairs = &[
    ("Make a bundle with a default configuration and run a container from it (rootfs/ holds the root filesystem):", "# mkdir -p bundle/rootfs && cd bundle\n# husk spec\n# husk run demo"),
    ("The create, start, state, delete life cycle with a state directory of one's own:", "# husk --root /run/demo create -b bundle demo\n# husk --root /run/demo start demo\n# husk --root /run/demo state demo\n# husk --root /run/demo delete --force demo"),
    ("As Docker's runtime (see /usr/share/doc/husk/README.md):", "# dockerd --add-runtime husk=/usr/bin/husk\n$ docker run --runtime husk --rm debian echo hello"),
];

fn extras(cmd: &str) -> Extra {
    let bundle = true;
    match cmd {
        "create" => Extra {
            description: &["The create command creates an instance of a container for a bundle: the namespaces, cgroups, mounts and the process are set up, and the process waits, before the user's program, until \"husk start\" is called. The bundle is a directory with a specification file named config.json and a root filesystem.", "With process.terminal true in config.json, --console-socket must name an AF_UNIX socket to which the terminal's master end is sent (SCM_RIGHTS)."],
            env: ENV_CREATE,
            bundle,
            examples: &[("Create a container from the bundle in /containers/demo, then start it:", "# husk create --bundle /containers/demo --pid-file /run/demo.pid demo\n# husk start demo")],
            see: &["husk-start", "husk-run", "husk-delete", "husk-spec"],
            ..Default::default()
        },
        "run" => Extra {
            description: &["The run command creates and starts a container from a bundle, in one step. Without --detach, husk stays in the foreground until the container's process exits, forwards the signals it receives to it, returns its exit status and deletes the container (unless --keep)."],
            exit: Some(RUN_EXIT),
            env: ENV_CREATE,
            bundle,
            examples: &[
                ("Run the bundle in the current directory in the foreground:", "# husk run demo"),
                ("Run it in the background, its pid in a file:", "# husk run --detach --pid-file /run/demo.pid -b /containers/demo demo"),
            ],
            see: &["husk-create", "husk-start", "husk-delete", "husk-spec"],
        },
        "start" => Extra {
            description: &["The start command runs the user-defined process of a container that husk create made (its state is \"created\"); the container is then \"running\"."],
            examples: &[("", "# husk start demo")],
            see: &["husk-create", "husk-run"],
            ..Default::default()
        },
        "state" => Extra {
            description: &["The state command prints the state of a container as JSON (runtime-spec's state: ociVersion, id, status, pid, bundle, annotations, and runc's rootfs, created and owner fields)."],
            examples: &[("", "# husk state demo")],
            see: &["husk-list", "husk-ps"],
            ..Default::default()
        },
        "kill" => Extra {
            description: &["The kill command sends a signal (default SIGTERM) to the container's init process, or with --all to every process of the container. The signal is a name, with or without SIG (KILL, SIGKILL), or a number."],
            examples: &[("Ask the container to stop, then make it:", "# husk kill demo\n# husk kill demo KILL"), ("Signal every process of the container:", "# husk kill --all demo SIGUSR1")],
            see: &["husk-delete", "husk-run"],
            ..Default::default()
        },
        "delete" => Extra {
            description: &["The delete command removes a stopped container: its cgroups, its state directory, and runs its poststop hooks. With --force a running or paused container is killed (SIGKILL) first."],
            examples: &[("", "# husk delete demo\n# husk delete --force demo")],
            see: &["husk-kill", "husk-create"],
            ..Default::default()
        },
        "exec" => Extra {
            description: &["The exec command runs a new process in a running container, in its namespaces, cgroup and security context. The process is given as arguments after the container id, or in full (runtime-spec process JSON) with --process."],
            exit: Some(EXEC_EXIT),
            examples: &[
                ("Run a shell with a terminal in the container:", "# husk exec -t demo sh"),
                ("Run a command as user 1000 with an extra environment variable:", "# husk exec --user 1000:1000 --env FOO=bar demo env"),
                ("Run a process described by a JSON file:", "# husk exec --process process.json demo"),
            ],
            see: &["husk-run", "husk-ps"],
            ..Default::default()
        },
        "spec" => Extra {
            description: &["The spec command writes a new config.json in the bundle directory, with runc's defaults (a terminal, the sh command, the usual mounts, namespaces, capabilities and masked paths); with --rootless, for a container run by an unprivileged user. Edit it before creating a container."],
            bundle,
            examples: &[("", "# mkdir -p bundle/rootfs\n# husk spec --bundle bundle\n$ husk spec --rootless")],
            see: &["husk-create", "husk-run"],
            ..Default::default()
        },
        "list" => Extra {
            description: &["The list command lists the containers in the state directory (--root): id, pid, status, bundle, created and owner, as a table or as JSON."],
            examples: &[("", "# husk list\n# husk list --format json\n# husk --root /run/demo list -q")],
            see: &["husk-state", "husk-ps"],
            ..Default::default()
        },
        "ps" => Extra {
            description: &["The ps command shows the processes of a container: the host's ps(1) output (ps -ef, or the options given after the id) restricted to the container's processes, or with --format json the list of their pids."],
            examples: &[("", "# husk ps demo\n# husk ps --format json demo\n# husk ps demo -- -o pid,comm")],
            see: &["husk-list", "husk-exec"],
            ..Default::default()
        },
        "pause" => Extra {
            description: &["The pause command freezes every process of a container (the cgroup freezer); the container is then \"paused\"."],
            examples: &[("", "# husk pause demo")],
            see: &["husk-resume"],
            ..Default::default()
        },
        "resume" => Extra {
            description: &["The resume command thaws a paused container's processes; the container is then \"running\" again."],
            examples: &[("", "# husk resume demo")],
            see: &["husk-pause"],
            ..Default::default()
        },
        "update" => Extra {
            description: &["The update command changes a running container's resource limits (cgroups, and Intel RDT), from options or from a LinuxResources JSON document (--resources, - for standard input)."],
            examples: &[
                ("Limit memory to 256 MiB and the number of processes to 100:", "# husk update --memory 256m --pids-limit 100 demo"),
                ("The same from JSON on standard input:", "# echo '{\"memory\": {\"limit\": 268435456}, \"pids\": {\"limit\": 100}}' | husk update -r - demo"),
            ],
            see: &["husk-events"],
            ..Default::default()
        },
        "events" => Extra {
            description: &["The events command prints a container's events as JSON lines: resource usage statistics (type \"stats\": cpu, memory, pids, blkio, hugetlb) every --interval, and OOM notifications (type \"oom\"); with --stats, one statistics record, then it exits."],
            examples: &[("", "# husk events --stats demo\n# husk events --interval 1s demo")],
            see: &["husk-update", "husk-ps"],
            ..Default::default()
        },
        "features" => Extra {
            description: &["The features command prints what this husk supports as JSON (runtime-spec features.md): spec versions, hooks, mount options, namespaces, capabilities, cgroup, seccomp, AppArmor, SELinux, idmapped mounts, and husk's own annotations."],
            examples: &[("", "# husk features")],
            ..Default::default()
        },
        _ => Extra::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_gets_a_page_with_every_long_option() {
        let mut cmd = husk::cli::Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let text = String::from_utf8(page(&cmd, Some(sub)).unwrap()).unwrap();
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                let longs = arg.get_long().into_iter().chain(arg.get_visible_aliases().unwrap_or_default());
                for long in longs {
                    assert!(
                        text.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))),
                        "husk-{} lacks --{long}",
                        sub.get_name()
                    );
                }
            }
            assert!(text.contains(".SH \"EXIT STATUS\""));
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(husk::logging::civil_from_days(0), (1970, 1, 1));
        assert_eq!(husk::logging::civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(husk::logging::civil_from_days(20_515), (2026, 3, 3));
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(roff(".x -y \\z"), "\\&.x \\-y \\ez");
    }
}
