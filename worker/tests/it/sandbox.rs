//! The limits hold in every mode, also without bubblewrap: CPU, memory, processes.

use shared::error_code::ErrorCode;
use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::freecad::{ExecutionError, IsolationMode};
use worker::offline_planner::OfflinePlanner;

use crate::helpers::runner_with;

// The killed fork bomb's processes count against the process limit until the host reaps
// them; the next job's fork used to fail there, and the runner's uncaught error dropped
// freecadcmd into its interactive console, so the job waited for its timeout (1 run in 3 to
// 5). The runner now waits for the limit to free up, and never outlives an error of its own.
#[tokio::test]
async fn without_bubblewrap_rlimits_still_stop_cpu_memory_and_fork_bombs() {
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "rlimits_only"),
        ("FREECAD_POOL_SIZE", "1"),
        ("FREECAD_CPU_SECONDS", "2"),
        ("FREECAD_MEMORY_MB", "2048"),
        ("FREECAD_MAX_PROCESSES", "64"),
        ("JOB_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    assert_eq!(runner.isolation(), IsolationMode::RlimitsOnly);
    let good = script_for(&OfflinePlanner.plan("a box 1x2x3 mm").unwrap().part);

    let error = runner
        .run("while True:\n    pass\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Crashed { status, .. } if status.contains("CPU time limit")),
        "{error}"
    );
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();

    let error = runner
        .run("x = bytearray(16 * 1024 ** 3)\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::MemoryExceeded, "{error}");
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();

    // Full Python past the check, as a script through one of FreeCAD's side doors would get.
    let error = runner
        .run_unchecked_for_tests(
            "import os\nos.system('f(){ f|f& };f')\n",
            &[OutputFormat::Step],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ExecutionFailed, "{error}");
    assert!(error.to_string().contains("processes running"), "{error}");
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();
}

#[tokio::test]
async fn isolation_is_bubblewrap_where_the_kernel_allows_it() {
    // `make test` installs bubblewrap; this fails loudly where it cannot run, rather than
    // letting the hostile-script suite pass in a weaker mode without anyone noticing.
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "bubblewrap"),
        ("FREECAD_POOL_SIZE", "0"),
    ])
    .await;
    assert_eq!(runner.isolation(), IsolationMode::Bubblewrap);
    assert!(runner.isolation_fallback_reason().is_none());
}

#[tokio::test]
async fn the_sandbox_refuses_nested_user_namespaces_and_oversize_writes() {
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "bubblewrap"),
        ("FREECAD_POOL_SIZE", "1"),
        ("FREECAD_FILE_SIZE_MB", "8"),
        ("FREECAD_JOB_DIR_MB", "12"),
    ])
    .await;
    let good = script_for(&OfflinePlanner.plan("a box 1x2x3 mm").unwrap().part);

    let error = runner
        .run_unchecked_for_tests(
            "import subprocess\nsubprocess.run(['unshare', '--user', 'true'], check=True)\n",
            &[OutputFormat::Step],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ExecutionFailed, "{error}");
    assert!(error.to_string().contains("unshare"), "{error}");

    // Files each under the file size limit overflow the 8 MiB /tmp (three of 5 MiB) and the
    // 12 MiB job folder (forty of 4 MiB: before the job folder was a tmpfs of its own, all
    // 160 MiB went to the host's disk and the job completed).
    for folder in ["/tmp", "."] {
        let script = format!(
            "for n in range(40):\n    with open(f'{folder}/big{{n}}', 'wb') as f:\n        \
             f.write(bytes(4 * 1024 * 1024))\n"
        );
        let error = runner
            .run_unchecked_for_tests(&script, &[OutputFormat::Step])
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            ErrorCode::ExecutionFailed,
            "{folder}: {error}"
        );
        assert!(
            error.to_string().contains("No space left on device"),
            "{folder}: {error}"
        );
    }
    // The next job gets an empty /tmp and job folder again.
    runner
        .run_unchecked_for_tests(
            "import os\nassert not [n for n in os.listdir('/tmp') + os.listdir('.') if n.startswith('big')]\n\
             import FreeCAD as App\nApp.ActiveDocument.addObject('Part::Box', 'B')\n",
            &[OutputFormat::Step],
        )
        .await
        .expect("a fresh /tmp and job folder");
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();
}

#[tokio::test]
async fn a_dead_workers_folders_are_swept_at_the_next_start() {
    // The pid of a process that has ended stands for a worker killed with SIGKILL.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let tmp = std::env::temp_dir();
    let dead = tmp.join(format!("designer-freecad-{dead_pid}-test"));
    std::fs::create_dir_all(dead.join("job")).unwrap();
    std::fs::write(dead.join("job").join("design.step"), b"left behind").unwrap();
    let alive = tmp.join(format!("designer-job-{}-test", std::process::id()));
    std::fs::create_dir_all(&alive).unwrap();

    let _runner = runner_with(&[("FREECAD_POOL_SIZE", "0")]).await;
    assert!(!dead.exists(), "{} was not swept", dead.display());
    assert!(alive.exists(), "a live worker's folder was swept");
    std::fs::remove_dir_all(&alive).unwrap();
}

#[tokio::test]
async fn the_seccomp_filter_refuses_the_calls_an_escape_needs() {
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "bubblewrap"),
        ("FREECAD_POOL_SIZE", "1"),
    ])
    .await;
    // Full Python past the check calls each denied system call with harmless arguments and
    // reports the errno it got; without the filter most give other answers (EFAULT, EINVAL,
    // EBADF, ENOKEY, a new io_uring, ...).
    let names: Vec<&str> = worker::freecad::seccomp::DENIED
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let numbers: Vec<i64> = worker::freecad::seccomp::DENIED
        .iter()
        .map(|(_, number)| *number)
        .collect();
    let script = format!(
        "import ctypes, json\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.syscall.restype = ctypes.c_long\n\
         buffer = ctypes.create_string_buffer(4096)\n\
         errnos = {{}}\n\
         for name, number in zip({names:?}, {numbers:?}):\n    \
             ctypes.set_errno(0)\n    \
             result = libc.syscall(ctypes.c_long(number), ctypes.c_long(1), buffer, \
                                   ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))\n    \
             errnos[name] = ctypes.get_errno() if result == -1 else 'allowed'\n\
         raise RuntimeError('ERRNOS' + json.dumps(errnos))\n"
    );
    let error = runner
        .run_unchecked_for_tests(&script, &[OutputFormat::Step])
        .await
        .unwrap_err();
    let text = error.to_string();
    let json = text
        .split_once("ERRNOS")
        .map(|(_, json)| json.trim_end_matches(|c: char| c != '}'))
        .unwrap_or_else(|| panic!("the script reported nothing: {text}"));
    let errnos: serde_json::Value = serde_json::from_str(json).expect(json);
    for name in names {
        assert_eq!(
            errnos[name], 1,
            "{name} was not refused with EPERM: {errnos}"
        );
    }
    // The sandbox still works for a real part.
    let good = script_for(&OfflinePlanner.plan("a box 1x2x3 mm").unwrap().part);
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();
}
