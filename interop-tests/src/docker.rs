//! Drives Docker from tests: checks that an engine answers, builds the images
//! of `docker/` (no registry involved), and runs `docker/compose.yml` swarms
//! under unique project names that are torn down on drop, panics included.
//!
//! Every docker command runs with a time limit, so a stuck engine fails a
//! test instead of hanging it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// Every compose project a test starts is named `PROJECT_PREFIX<pid>x<suffix>`;
/// leftovers of dead test processes are removed by [`cleanup_leftovers`].
pub const PROJECT_PREFIX: &str = "pacomt";

const SHORT: Duration = Duration::from_secs(60);
const COMPOSE_UP: Duration = Duration::from_secs(300);
const BUILD: Duration = Duration::from_secs(45 * 60);

/// What a finished command printed, and how it ended.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to its end, killing it after `timeout`. A non-zero exit is not
/// an error here (see [`run_ok`]); failing to start or a timeout is.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{what}`"))?;
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            bail!("`{what}` did not finish within {timeout:?}; stderr: {stderr}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    Ok(CmdOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Like [`run`], and a non-zero exit is an error carrying the command's stderr.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let what = describe(cmd);
    let out = run(cmd, timeout)?;
    if !out.success() {
        bail!(
            "`{what}` failed ({}):\n{}{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }
    Ok(out)
}

fn docker<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("docker");
    c.args(args);
    c
}

/// Whether tests can use Docker here.
pub struct DockerAvailable;

impl DockerAvailable {
    /// `Ok` when a Docker engine answers; `Err(reason)` when none does, which
    /// is the one reason a Docker test may skip. Anything else that is wrong
    /// (no `docker-compose`, a failing build) is left to fail the test.
    pub fn check() -> std::result::Result<(), String> {
        let out = match run(
            &mut docker(["info", "--format", "{{.ServerVersion}}"]),
            Duration::from_secs(30),
        ) {
            Ok(out) => out,
            Err(e) => return Err(format!("docker CLI unusable: {e:#}")),
        };
        if !out.success() {
            let first = out
                .stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(format!("no Docker engine answers (docker info: {first})"));
        }
        Ok(())
    }
}

/// The workspace root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent directory")
        .to_path_buf()
}

/// `docker/compose.yml` of this repository.
pub fn compose_file() -> PathBuf {
    repo_root().join("docker").join("compose.yml")
}

/// A `pacom` binary for the node image: `$PACOM_BIN` if set, else the debug
/// build of `pacom-cli` in the target directory this test was built in
/// (built now; incremental, since `cargo test --workspace` built its
/// dependencies already).
pub fn pacom_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PACOM_BIN") {
        return Ok(PathBuf::from(p));
    }
    // The test executable is <target>/debug/deps/<name>-<hash>.
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable is not under <target>/<profile>/deps")?
        .to_path_buf();
    let target = profile_dir
        .parent()
        .context("no target directory above the profile directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `--workspace --bin pacom`, not `-p pacom-cli`: the features of the
    // whole workspace, as `cargo test --workspace` built them, so nothing
    // below the binary is rebuilt.
    cmd.args(["build", "--workspace", "--bin", "pacom", "--manifest-path"])
        .arg(repo_root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target);
    if profile_dir.file_name() == Some(OsStr::new("release")) {
        cmd.arg("--release");
    }
    run_ok(&mut cmd, BUILD).context("building pacom-cli for the node image")?;
    let bin = profile_dir.join("pacom");
    if !bin.is_file() {
        bail!("cargo built pacom-cli but {} is missing", bin.display());
    }
    Ok(bin)
}

/// Runs `docker/build-images.sh` (cached: only the first run debootstraps).
/// `pacom_bin` goes into `pacom/node`; without it the script builds a release binary.
pub fn build_images(pacom_bin: Option<&Path>) -> Result<String> {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("docker").join("build-images.sh"));
    if let Some(bin) = pacom_bin {
        cmd.env("PACOM_BIN", bin);
    }
    let out = run_ok(&mut cmd, BUILD).context("docker/build-images.sh")?;
    Ok(out.stdout)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// A compose project name unique to this process and call:
/// `pacomt<pid>x<tag><time>` (lower-case letters and digits only).
pub fn unique_project(tag: &str) -> String {
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!(
        "{PROJECT_PREFIX}{}x{tag}{}",
        std::process::id(),
        now_nanos() % 1_000_000_000_000
    )
}

fn project_pid(project: &str) -> Option<u32> {
    let rest = project.strip_prefix(PROJECT_PREFIX)?;
    rest.split('x').next()?.parse().ok()
}

fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Containers, networks and volumes carrying the compose label of `project`.
pub fn leftovers(project: &str) -> Result<Vec<String>> {
    let filter = format!("label=com.docker.compose.project={project}");
    let mut found = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
        ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
        ("volume", vec!["volume", "ls", "--format", "{{.Name}}"]),
    ] {
        let mut cmd = docker(&args);
        cmd.args(["--filter", &filter]);
        let out = run_ok(&mut cmd, SHORT)?;
        found.extend(lines(&out.stdout).map(|n| format!("{kind} {n}")));
    }
    Ok(found)
}

/// The start of every Docker test: `Ok(false)` (after printing `skipped:`
/// and the reason) when no engine answers, else `Ok(true)` once the
/// leftovers of dead test runs are removed.
pub fn prepare() -> Result<bool> {
    if let Err(reason) = DockerAvailable::check() {
        println!("skipped: {reason}");
        eprintln!("skipped: {reason}");
        return Ok(false);
    }
    let removed = cleanup_leftovers()?;
    if !removed.is_empty() {
        println!("removed leftovers of dead test runs: {removed:?}");
    }
    Ok(true)
}

/// Removes what compose projects of earlier, dead test processes left behind
/// (a killed test cannot run its teardown). Projects of live processes are
/// left alone: they may belong to a test running next to this one.
pub fn cleanup_leftovers() -> Result<Vec<String>> {
    let mut projects = HashSet::new();
    let label = "{{.Label \"com.docker.compose.project\"}}";
    for args in [
        vec!["ps", "-a", "--format", label],
        vec!["network", "ls", "--format", label],
        vec!["volume", "ls", "--format", label],
    ] {
        let out = run_ok(&mut docker(&args), SHORT)?;
        projects.extend(
            lines(&out.stdout)
                .filter(|p| p.starts_with(PROJECT_PREFIX))
                .map(str::to_owned),
        );
    }
    let mut removed = Vec::new();
    for project in projects {
        let alive = project_pid(&project)
            .map(|pid| Path::new(&format!("/proc/{pid}")).exists())
            .unwrap_or(false);
        if alive {
            continue;
        }
        remove_project(&project)?;
        removed.push(project);
    }
    Ok(removed)
}

fn remove_project(project: &str) -> Result<()> {
    let filter = format!("label=com.docker.compose.project={project}");
    for (ls, rm) in [
        (vec!["ps", "-aq"], vec!["rm", "-f", "-v"]),
        (vec!["network", "ls", "-q"], vec!["network", "rm"]),
        (vec!["volume", "ls", "-q"], vec!["volume", "rm", "-f"]),
    ] {
        let mut cmd = docker(&ls);
        cmd.args(["--filter", &filter]);
        let ids: Vec<String> = lines(&run_ok(&mut cmd, SHORT)?.stdout)
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            run_ok(
                &mut docker(rm.iter().map(|s| s.to_string()).chain(ids)),
                SHORT,
            )?;
        }
    }
    Ok(())
}

/// An IPv4 CIDR as (network address, prefix length); `None` for IPv6 or junk.
fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (addr, len) = s.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Some((u32::from(addr) & mask, len))
}

fn overlaps(a: &str, b: &str) -> bool {
    match (parse_cidr(a), parse_cidr(b)) {
        (Some((na, la)), Some((nb, lb))) => {
            let len = la.min(lb);
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            na & mask == nb & mask
        }
        _ => false,
    }
}

/// Subnets (CIDR) of every Docker network on this engine.
fn used_subnets() -> Result<HashSet<String>> {
    let ids = run_ok(&mut docker(["network", "ls", "-q"]), SHORT)?.stdout;
    let ids: Vec<&str> = lines(&ids).collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut cmd = docker([
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ]);
    cmd.args(&ids);
    let out = run_ok(&mut cmd, SHORT)?;
    Ok(out.stdout.split_whitespace().map(str::to_owned).collect())
}

/// A running compose project; `down -v --remove-orphans` on drop.
pub struct Compose {
    project: String,
    file: PathBuf,
    env: Vec<(String, String)>,
    up: bool,
}

impl Compose {
    /// `docker-compose -p project -f file up -d --scale s=n ...` on a free
    /// `172.28.X.0/24` (`PACOM_NET_PREFIX`).
    pub fn up(project: &str, file: &Path, scale: &[(&str, u32)]) -> Result<Compose> {
        Compose::up_with(project, file, scale, &[])
    }

    /// [`Compose::up`] with extra environment for the compose file
    /// (e.g. `PACOM_POPULAR_SIZE`, or `COMPOSE_PROFILES=pacom`).
    pub fn up_with(
        project: &str,
        file: &Path,
        scale: &[(&str, u32)],
        env: &[(&str, &str)],
    ) -> Result<Compose> {
        let mut last_err = None;
        for attempt in 0..5 {
            let used = used_subnets()?;
            let start = (now_nanos() % 256) as usize + attempt * 37;
            let prefix = (0..256)
                .map(|i| format!("172.28.{}", (start + i) % 256))
                .find(|p| {
                    let candidate = format!("{p}.0/24");
                    !used.iter().any(|u| overlaps(u, &candidate))
                })
                .context("no free 172.28.X.0/24 subnet for the swarm")?;
            let mut env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            env.push(("PACOM_NET_PREFIX".into(), prefix));
            // From here on the project may exist: Drop tears it down.
            let mut compose = Compose {
                project: project.to_owned(),
                file: file.to_owned(),
                env,
                up: true,
            };
            let mut cmd = compose.cmd(["up", "-d", "--no-color"]);
            for (service, n) in scale {
                cmd.args(["--scale", &format!("{service}={n}")]);
            }
            let out = run(&mut cmd, COMPOSE_UP)?;
            if out.success() {
                return Ok(compose);
            }
            compose.down()?;
            // Another swarm may have taken the subnet between the look and the up.
            if out.stderr.contains("overlaps") {
                last_err = Some(out.stderr);
                continue;
            }
            bail!(
                "docker-compose up of {project} failed ({}):\n{}",
                out.status,
                out.stderr
            );
        }
        bail!(
            "docker-compose up of {project}: no free subnet after 5 tries: {}",
            last_err.unwrap_or_default()
        )
    }

    /// `up -d --no-deps` of one replica each of more `services` of this
    /// project (say of a profile named in its `COMPOSE_PROFILES`), with
    /// `env` added for the compose file.
    pub fn up_services(&self, services: &[&str], env: &[(&str, &str)]) -> Result<()> {
        let mut c = self.cmd(["up", "-d", "--no-color", "--no-deps"]);
        c.envs(env.iter().copied());
        for s in services {
            c.args(["--scale", &format!("{s}=1")]);
        }
        c.args(services);
        run_ok(&mut c, COMPOSE_UP)?;
        Ok(())
    }

    /// The compose project name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The Docker name of a network of the compose file (`<project>_<name>`).
    pub fn network(&self, name: &str) -> String {
        format!("{}_{name}", self.project)
    }

    /// `PACOM_NET_PREFIX` of this swarm (three octets, e.g. `172.28.7`).
    pub fn net_prefix(&self) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == "PACOM_NET_PREFIX")
            .map(|(_, v)| v.as_str())
            .unwrap_or("172.28.0")
    }

    fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new("docker-compose");
        c.arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `cmd` in replica `index` (1-based, as compose counts) of `service`.
    /// The command's own failure is in the returned status, not an error.
    pub fn exec(&self, service: &str, index: u32, cmd: &[&str]) -> Result<CmdOutput> {
        let mut c = self.cmd(["exec", "-T", "--index"]);
        c.arg(index.to_string()).arg(service).args(cmd);
        run(&mut c, SHORT)
    }

    /// `docker-compose run --rm --no-deps service args...`: a one-off
    /// container of `service` (its entrypoint, these arguments).
    pub fn run(&self, service: &str, args: &[&str]) -> Result<CmdOutput> {
        let mut c = self.cmd(["run", "--rm", "--no-deps", "-T", service]);
        c.args(args);
        run(&mut c, SHORT)
    }

    /// The container name of replica `index` (1-based) of `service`.
    pub fn container(&self, service: &str, index: u32) -> Result<String> {
        let mut c = docker(["ps", "-a", "--format", "{{.Names}}"]);
        for f in [
            format!("label=com.docker.compose.project={}", self.project),
            format!("label=com.docker.compose.service={service}"),
            format!("label=com.docker.compose.container-number={index}"),
        ] {
            c.args(["--filter", &f]);
        }
        let out = run_ok(&mut c, SHORT)?;
        let names: Vec<&str> = lines(&out.stdout).collect();
        match names.as_slice() {
            [one] => Ok(one.to_string()),
            [] => bail!("no container {service} #{index} in {}", self.project),
            more => bail!("several containers for {service} #{index}: {more:?}"),
        }
    }

    /// The IPv4 address of `container` on `network` (a Docker network name).
    pub fn ip(&self, container: &str, network: &str) -> Result<String> {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        let out = run_ok(&mut docker(["inspect", "-f", &format, container]), SHORT)?;
        let ip = out.stdout.trim();
        if ip.is_empty() || ip == "<no value>" {
            bail!("{container} has no address on {network}");
        }
        Ok(ip.to_owned())
    }

    /// Cuts `container` off `network` (a Docker network name, see [`Compose::network`]).
    pub fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        run_ok(
            &mut docker(["network", "disconnect", "-f", network, container]),
            SHORT,
        )?;
        Ok(())
    }

    /// Connects `container` to `network` again.
    pub fn connect(&self, container: &str, network: &str) -> Result<()> {
        run_ok(
            &mut docker(["network", "connect", network, container]),
            SHORT,
        )?;
        Ok(())
    }

    /// Everything `service`'s containers logged so far.
    pub fn logs(&self, service: &str) -> Result<String> {
        let out = run_ok(&mut self.cmd(["logs", "--no-color", service]), SHORT)?;
        Ok(out.stdout + &out.stderr)
    }

    /// `docker-compose down -v --remove-orphans`; also what drop does.
    /// Idempotent.
    pub fn down(&mut self) -> Result<()> {
        if !self.up {
            return Ok(());
        }
        self.up = false;
        run_ok(
            &mut self.cmd(["down", "-v", "--remove-orphans", "-t", "5"]),
            COMPOSE_UP,
        )
        .with_context(|| format!("tearing down {}", self.project))?;
        Ok(())
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("docker teardown of {}: {e:#}", self.project);
            // Last resort: remove by label what compose could not.
            if let Err(e) = remove_project(&self.project) {
                eprintln!("docker cleanup of {}: {e:#}", self.project);
            }
        }
    }
}

/// Polls `f` every `every` until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_unique_and_carry_the_pid() {
        let a = unique_project("Swarm-1");
        let b = unique_project("Swarm-1");
        assert_ne!(a, b);
        assert!(a.starts_with(PROJECT_PREFIX));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(project_pid(&a), Some(std::process::id()));
        assert_eq!(project_pid("someoneelse"), None);
    }

    #[test]
    fn subnet_overlap() {
        assert!(overlaps("172.28.5.0/24", "172.28.5.0/24"));
        assert!(overlaps("172.16.0.0/12", "172.28.5.0/24"));
        assert!(overlaps("172.28.5.0/24", "172.16.0.0/12"));
        assert!(!overlaps("172.28.5.0/24", "172.28.6.0/24"));
        assert!(!overlaps("172.17.0.0/16", "172.28.0.0/24"));
        assert!(!overlaps("fd00::/64", "172.28.0.0/24"));
        assert!(overlaps("0.0.0.0/0", "172.28.0.0/24"));
    }

    #[test]
    fn run_reports_exit_status_and_times_out() {
        let out = run(Command::new("sh").args(["-c", "echo hi; exit 3"]), SHORT).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, "hi\n");
        assert!(run_ok(Command::new("sh").args(["-c", "exit 1"]), SHORT).is_err());
        let t = Instant::now();
        assert!(run(Command::new("sleep").arg("10"), Duration::from_millis(200)).is_err());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
