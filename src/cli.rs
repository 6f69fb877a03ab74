//! Command-line interface: runc-compatible flags and subcommands. No logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "husk",
    about = "husk: an OCI runtime-spec container runtime (runc-compatible)",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Root directory for storage of container state (should be on tmpfs)
    #[arg(long, global = false, default_value = "/run/husk")]
    pub root: PathBuf,

    /// Set the log file to write husk logs to (default is stderr)
    #[arg(long)]
    pub log: Option<PathBuf>,

    /// Set the log format ('text' (default), or 'json')
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Enable debug logging
    #[arg(long)]
    pub debug: bool,

    /// Enable systemd cgroup support (cgroupsPath is then slice:prefix:name)
    #[arg(long)]
    pub systemd_cgroup: bool,

    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_enum, default_value_t = Rootless::Auto)]
    pub rootless: Rootless,

    /// Use criu binary (accepted for compatibility)
    #[arg(long, hide = true)]
    pub criu: Option<PathBuf>,

    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rootless {
    Auto,
    True,
    False,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(CreateArgs),
    /// Execute the user-defined process in a created container
    Start(IdArg),
    /// Output the state of a container
    State(IdArg),
    /// Send the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// Delete any resources held by the container
    Delete(DeleteArgs),
    /// Create and run a container
    Run(RunArgs),
    /// Execute a new process inside the container
    Exec(Box<ExecArgs>),
    /// Create a new specification file (config.json)
    Spec(SpecArgs),
    /// List containers started by husk with the given root
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Select one of: table or json
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// The container id
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive the pty master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Do not make the runtime a subreaper (accepted for compatibility)
    #[arg(long)]
    pub no_subreaper: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes in the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// The container id
    pub id: String,
    /// The signal: a name (KILL, SIGKILL) or a number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// The container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Path to an AF_UNIX socket which will receive the pty master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set environment variables (KEY=VALUE)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Set the asm process label for the process commonly used with selinux
    #[arg(long)]
    pub process_label: Option<String>,
    /// Set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run the process in an (existing) sub-cgroup(s): [controller:]path
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// The container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
