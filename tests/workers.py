"""Real Celery worker processes for tests (no in-process fakes)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """`celery -A chatbot worker -B` as a child process, in its own process group."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, concurrency: int = 2, beat: bool = True
    ):
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.beat = beat
        self.log_path = log_dir / f"worker-{name}-{os.getpid()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "WorkerProcess":
        from chatbot.celery import app

        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "chatbot",
            "worker",
            "-l",
            "INFO",
            "-c",
            str(self.concurrency),
            "-P",
            "prefork",
            "-n",
            f"{self.name}@%h",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-gossip",
            "--without-mingle",
        ]
        if self.beat:
            cmd += ["-B", "-s", str(self.log_path.with_suffix(".beat"))]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited; see {self.log_path}")
            replies = app.control.ping(destination=[self.hostname], timeout=0.5)
            if replies:
                return self
        raise RuntimeError(f"worker {self.name} not ready in {timeout}s; see {self.log_path}")

    @property
    def hostname(self) -> str:
        import socket

        return f"{self.name}@{socket.gethostname()}"

    def active_task_pids(self, *, task_name: str, args: list | None = None) -> list[int]:
        """Pool processes running `task_name` (with these args) right now. The beat-driven
        sweeper runs every second in this pool too: never mistake it for the task."""
        from chatbot.celery import app

        active = app.control.inspect(destination=[self.hostname], timeout=1).active() or {}
        return [
            task["worker_pid"]
            for task in active.get(self.hostname, [])
            if task["name"] == task_name and (args is None or list(task["args"]) == args)
        ]

    def kill_pool_process(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        """SIGKILL the whole worker (main process, pool and beat) at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill_all()
