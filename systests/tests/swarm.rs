//! The cluster as a Docker Swarm stack: `docker-stack.yml` deployed for
//! real on this host. The test makes this host a single-node swarm
//! (`docker swarm init`) unless it already is a manager of one, deploys the
//! quickstart experiment (GunPoint, 5 device tasks), waits for every task to
//! finish and compares the run with `rocknet run` of the same static binary
//! on loopback. The stack is removed (and a swarm the test made is left)
//! when the test ends, failed or not.
//!
//! Swarm specifics the test relies on: the image is named by its id, so the
//! daemon never tries to pull it from a registry (there is none here); the
//! run directory leaves the coordinator's task through a bind mount (one
//! host); the restart policy `condition: none` lets every task run once.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rocknet_systests::{
    IMAGE, LoopbackRun, assert_same_as_loopback, build_image, docker_or_reported_skip, image_id,
    only_run_dir, repo,
};
use serde_json::Value;

/// The stack's name (its services are `rocknet-swarm_<service>`).
const STACK: &str = "rocknet-swarm";
/// The experiment, under `configs/`, and its number of devices.
const CONFIG: &str = "quickstart.toml";
const DEVICES: usize = 5;
/// The stack's services and their tasks: each must run exactly once.
const SERVICES: [(&str, usize); 3] = [("linkmodel", 1), ("coordinator", 1), ("node", DEVICES)];
/// Marks a swarm this test initialised, so that a run interrupted before
/// it could leave is cleaned up by the next one.
const MADE_BY_TEST_LABEL: &str = "rocknet.systest.swarm";
/// How long the whole run may take once deployed (it takes seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the stack's containers and network may take to go.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `docker args…`; its output, whatever the exit status.
fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"))
}

/// Runs `docker args…`; its stdout, or a panic with its stderr.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This host's membership of a swarm, as the test found or made it.
struct Swarm {
    /// The test initialised it: `docker swarm leave --force` on drop.
    made_by_test: bool,
}

impl Swarm {
    /// Uses the swarm this host manages, or makes this host a single-node
    /// swarm that only listens on loopback.
    fn manage_or_init() -> Self {
        let info = docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ]);
        let info: Vec<&str> = info.split_whitespace().collect();
        match info.as_slice() {
            ["inactive", _] => {
                docker_ok(&[
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                    "--listen-addr",
                    "127.0.0.1:2377",
                ]);
                let swarm = Self { made_by_test: true };
                let label = format!("{MADE_BY_TEST_LABEL}=true");
                // `node update` takes no `self`: the node's id.
                let node = docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
                docker_ok(&["node", "update", "--label-add", &label, node.trim()]);
                eprintln!("swarm: initialised a single-node swarm on 127.0.0.1");
                swarm
            }
            ["active", "true"] => {
                let label = format!("{{{{index .Spec.Labels \"{MADE_BY_TEST_LABEL}\"}}}}");
                let ours = docker_ok(&["node", "inspect", "self", "--format", &label]);
                let made_by_test = ours.trim() == "true";
                eprintln!(
                    "swarm: this host already manages a swarm ({}); using it",
                    if made_by_test {
                        "left over from an interrupted run of this test: leaving it at the end"
                    } else {
                        "it stays"
                    }
                );
                Self { made_by_test }
            }
            ["active", _] => panic!(
                "this host is a worker of a swarm: a stack is deployed from a manager \
                 (run the test on a manager, or `docker swarm leave` first)"
            ),
            other => panic!(
                "this host's swarm state is {other:?} (`docker info`): neither inactive nor a manager"
            ),
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made_by_test {
            let out = docker(&["swarm", "leave", "--force"]);
            if out.status.success() {
                eprintln!("swarm: left");
            } else {
                eprintln!(
                    "swarm: `docker swarm leave --force` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// The state of one task (`docker inspect --type task`).
struct TaskState {
    /// `new` … `running`, then one of `complete`, `failed`, `rejected`,
    /// `shutdown`, `orphaned`, `remove`.
    state: String,
    exit_code: Option<i64>,
    err: String,
}

impl TaskState {
    fn of(status: &Value) -> Self {
        Self {
            state: status["State"].as_str().unwrap_or("?").to_string(),
            exit_code: status["ContainerStatus"]["ExitCode"].as_i64(),
            err: status["Err"].as_str().unwrap_or("").to_string(),
        }
    }

    fn is_over(&self) -> bool {
        matches!(
            self.state.as_str(),
            "complete" | "failed" | "rejected" | "shutdown" | "orphaned" | "remove"
        )
    }

    fn succeeded(&self) -> bool {
        self.state == "complete" && self.exit_code == Some(0)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.state)?;
        if let Some(code) = self.exit_code {
            write!(f, " (exit {code})")?;
        }
        if !self.err.is_empty() {
            write!(f, ": {}", self.err)?;
        }
        Ok(())
    }
}

/// The stack deployed from the repository's `docker-stack.yml`, with its
/// runs in a temporary directory; removed on drop.
struct Stack {
    runs: tempfile::TempDir,
}

impl Stack {
    /// Deploys the stack with the image `image` (an id: nothing is pulled).
    fn deploy(image: &str) -> Self {
        let stack = Self {
            runs: tempfile::tempdir().unwrap(),
        };
        // A leftover from an interrupted earlier run would be updated, not
        // replaced.
        stack.remove();
        let out = Command::new("docker")
            .current_dir(repo())
            .args(["stack", "deploy", "--resolve-image", "never", "-c"])
            .arg(repo().join("docker-stack.yml"))
            .arg(STACK)
            .env("ROCKNET_IMAGE", image)
            .env("ROCKNET_CONFIG", CONFIG)
            .env("ROCKNET_DEVICES", DEVICES.to_string())
            .env("ROCKNET_ROOT", repo())
            .env("ROCKNET_RUNS", stack.runs.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker stack deploy failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }

    fn service(name: &str) -> String {
        format!("{STACK}_{name}")
    }

    /// Every task the service has had (restarts included).
    fn tasks(service: &str) -> Vec<TaskState> {
        let ids = docker_ok(&["service", "ps", "--no-trunc", "-q", &Self::service(service)]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect", "--type", "task", "--format", "{{json .Status}}"];
        args.extend_from_slice(&ids);
        docker_ok(&args)
            .lines()
            .map(|l| TaskState::of(&serde_json::from_str(l).expect("a task's status")))
            .collect()
    }

    /// Waits (at most [`RUN_TIMEOUT`]) until every task has ended; fails
    /// with the services' logs as soon as one ends badly, or on timeout.
    fn wait_until_over(&self) {
        let t0 = Instant::now();
        loop {
            let tasks: Vec<(&str, Vec<TaskState>)> =
                SERVICES.iter().map(|&(s, _)| (s, Self::tasks(s))).collect();
            let mut all_over = true;
            for (service, states) in &tasks {
                all_over &= !states.is_empty() && states.iter().all(TaskState::is_over);
                if let Some(bad) = states.iter().find(|t| t.is_over() && !t.succeeded()) {
                    panic!("a task of {service} ended badly: {bad}\n{}", self.logs());
                }
            }
            if all_over {
                for ((service, states), (_, replicas)) in tasks.iter().zip(SERVICES) {
                    assert_eq!(
                        states.len(),
                        replicas,
                        "{service}: {} tasks for {replicas} replicas (restarted?)\n{}",
                        states.len(),
                        self.logs()
                    );
                }
                return;
            }
            assert!(
                t0.elapsed() < RUN_TIMEOUT,
                "the stack did not finish in {RUN_TIMEOUT:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The task list and the last lines of every service's log.
    fn logs(&self) -> String {
        let mut text =
            String::from_utf8_lossy(&docker(&["stack", "ps", "--no-trunc", STACK]).stdout)
                .into_owned();
        for (service, _) in SERVICES {
            let out = docker(&[
                "service",
                "logs",
                "--no-task-ids",
                "--tail",
                "40",
                &Self::service(service),
            ]);
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        text
    }

    /// Whether anything of the stack (a container or its network) is left.
    fn remains() -> bool {
        let label = format!("label=com.docker.stack.namespace={STACK}");
        let containers = docker_ok(&["ps", "-aq", "--filter", &label]);
        let networks = docker_ok(&["network", "ls", "-q", "--filter", &label]);
        !containers.trim().is_empty() || !networks.trim().is_empty()
    }

    /// `docker stack rm`, then waits (at most [`REMOVE_TIMEOUT`]) for the
    /// containers and the overlay network to go, and removes the trace
    /// volume (which `stack rm` keeps).
    fn remove(&self) {
        // Fails harmlessly when there is no such stack.
        let _ = docker(&["stack", "rm", STACK]);
        let t0 = Instant::now();
        while Self::remains() {
            if t0.elapsed() > REMOVE_TIMEOUT {
                eprintln!(
                    "swarm: the stack's containers or network are still there after {REMOVE_TIMEOUT:?}"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let volume = format!("{STACK}_trace");
        if docker(&["volume", "inspect", &volume]).status.success() {
            docker_ok(&["volume", "rm", &volume]);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let t0 = Instant::now();
        self.remove();
        eprintln!(
            "swarm: stack removed in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
}

/// Beyond one host, for real: the quickstart experiment deployed as a
/// Swarm stack (overlay network, `dnsrr` endpoints, one `node` service with
/// 5 replicas whose task slots are the radio node ids) gives exactly what
/// `rocknet run` gives on loopback — weights, predictions, per-epoch history
/// and the link model's whole trace — and every task (relay, coordinator,
/// devices) runs once and exits 0.
#[test]
fn a_swarm_stack_equals_the_loopback_run() {
    if !docker_or_reported_skip("the swarm test") {
        return;
    }
    let rocknet = build_image(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let image = image_id(IMAGE);
    let _swarm = Swarm::manage_or_init();
    let t0 = Instant::now();
    let stack = Stack::deploy(&image);
    stack.wait_until_over();
    let deployed_s = t0.elapsed().as_secs_f64();
    let dir = only_run_dir(stack.runs.path());

    let t1 = Instant::now();
    let loopback = LoopbackRun::of(rocknet, CONFIG);
    let loopback_s = t1.elapsed().as_secs_f64();
    let report = assert_same_as_loopback("docker stack", &dir, &loopback);
    let devices = report["per_device"].as_array().unwrap();
    assert_eq!(devices.len(), DEVICES, "{devices:?}");
    eprintln!(
        "swarm = loopback: weights {} accuracy {} ({} rounds); deploy to last task done {deployed_s:.1} s \
         (run {:.1} s), loopback run {loopback_s:.1} s, image {image}",
        report["weights_hash"],
        report["final_accuracy"],
        report["rounds"],
        report["wall_seconds"].as_f64().unwrap_or(f64::NAN)
    );
}
