//! Command-line interface: runc-compatible flags and subcommands. No logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "husk",
    about = "an OCI runtime-spec container runtime (runc-compatible)",
    before_long_help = DESCRIPTION,
    version = crate::VERSION,
    help_template = HELP_TEMPLATE,
    next_display_order = None,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Root directory for storage of container state (should be on tmpfs)
    #[arg(long, global = false, default_value_os_t = default_root())]
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

/// `husk --help` laid out as `runc --help`: name, description, usage, version, the commands
/// (alphabetical, as runc's), the global options.
const HELP_TEMPLATE: &str = "\
NAME:
   {name} - {about-with-newline}
{before-help}USAGE:
   {name} [global options] command [command options] [arguments...]

VERSION:
   {version}

COMMANDS:
{subcommands}

GLOBAL OPTIONS:
{options}
";

/// The description `husk --help` (and husk(8)) gives, after runc's.
pub const DESCRIPTION: &str = r#"husk is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of
the Open Container Initiative runtime specification. It takes runc's commands,
options, outputs and exit codes, so that container managers (Docker, containerd,
podman, CRI-O, Kubernetes) can run it in runc's place.

Containers are configured using bundles. A bundle for a container is a directory
that includes a specification file named "config.json" and a root filesystem.
The root filesystem contains the contents of the container.

To start a new instance of a container:

    # husk run [ -b bundle ] <container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host. Providing the bundle directory using "-b" is optional. The default
value for "bundle" is the current directory."#;

/// The default `--root`, as runc's: `$XDG_RUNTIME_DIR/husk` for a non-root caller (or root in
/// a user namespace whose `$USER` is unset or not root, as rootless podman runs its runtime)
/// when XDG_RUNTIME_DIR is set, else `/run/husk`.
pub fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        Some(x) if honor_xdg_runtime_dir() => PathBuf::from(x).join("husk"),
        _ => PathBuf::from("/run/husk"),
    }
}

/// runc's shouldHonorXDGRuntimeDir (without XDG_RUNTIME_DIR's presence, checked by the caller).
fn honor_xdg_runtime_dir() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    // Root, but in a user namespace that does not map the host's root: "rootful" there only.
    crate::namespaces::in_user_namespace() && std::env::var_os("USER").is_none_or(|u| u != "root")
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
    /// Display the processes running inside a container
    Ps(PsArgs),
    /// Suspend all processes inside the container
    Pause(IdArg),
    /// Resume all processes that have been previously paused
    Resume(IdArg),
    /// Update container resource constraints
    Update(Box<UpdateArgs>),
    /// Display container events such as OOM notifications and resource usage statistics
    Events(EventsArgs),
    /// Show the enabled features (JSON, runtime-spec features.md)
    Features,
    /// Checkpoint a running container (through CRIU)
    Checkpoint(Box<CheckpointArgs>),
    /// Restore a container from a previous checkpoint (through CRIU)
    Restore(Box<RestoreArgs>),
}

/// What `checkpoint` and `restore` share (runc's flag names and meanings).
#[derive(Args, Debug, Clone, Default)]
pub struct CriuCommonArgs {
    /// Path for the criu image files (default: ./checkpoint)
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Path for criu's work files and logs (default: the image path)
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long)]
    pub lazy_pages: bool,
    /// cgroups mode: 'soft' (default), 'full', 'strict' or 'ignore'
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties (network)
    #[arg(long)]
    pub empty_ns: Option<String>,
    /// Enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub common: CriuCommonArgs,
    /// Path for previous criu image files in pre-dump (relative to the image path)
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long)]
    pub leave_running: bool,
    /// criu writes \0 to this FD once lazy-pages is ready
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of the page server
    #[arg(long)]
    pub page_server: Option<String>,
    /// Dump the container's memory information only, leave the container running after this
    #[arg(long)]
    pub pre_dump: bool,
    /// The container id
    pub id: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: CriuCommonArgs,
    /// Path to an AF_UNIX socket which will receive the pty master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Disable the use of the subreaper (accepted for compatibility)
    #[arg(long)]
    pub no_subreaper: bool,
    /// Do not use pivot root (accepted: CRIU restores the mount namespace itself)
    #[arg(long)]
    pub no_pivot: bool,
    /// An LSM profile to be used during restore (TYPE:NAME)
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// An LSM mount context to be used during restore
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    /// The container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Select one of: table or json
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The container id
    pub id: String,
    /// Options for the host's ps (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    /// Path to a file with the resources (LinuxResources JSON) or '-' for stdin; the other
    /// options are then ignored
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Per cgroup weight, range is from 10 to 1000
    #[arg(long, allow_hyphen_values = true)]
    pub blkio_weight: Option<String>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", visible_alias = "cpu-shares", allow_hyphen_values = true)]
    pub cpu_share: Option<String>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPU(s) to use
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (in bytes; suffixes k, m, g... accepted)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// The container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// The container id
    pub id: String,
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
