"""Helpers for airlock's end-to-end tests: free ports, processes that are
always cleaned up, the airlock daemon under test, peers, a small YAML writer,
HTTP and server-sent-event clients, and wait-until-condition loops.

Only the standard library is used here (the peers use pymodbus). Every
process is started in its own session and registered with a ProcessGroup,
which kills whatever is still running when the test ends, pass or fail.
"""

import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
SRC = os.environ.get("AIRLOCK_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))

# Patterns that mean a sanitizer found something.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "WARNING: ThreadSanitizer",
    "runtime error:",
    "ERROR: UndefinedBehaviorSanitizer",
    "AddressSanitizer:DEADLYSIGNAL",
)


def airlock_bin():
    """The airlock executable under test: $AIRLOCK_BIN, else the usual build dirs."""
    env = os.environ.get("AIRLOCK_BIN")
    if env:
        return os.path.abspath(env)  # processes run in their own directories
    for d in ("build-test", "build", "build-e2e"):
        p = os.path.join(SRC, d, "airlock")
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("set AIRLOCK_BIN to the airlock executable")


# ---------------------------------------------------------------- waiting


class Timeout(AssertionError):
    pass


class Fatal(AssertionError):
    """A failure no amount of waiting can cure (a process died)."""


def wait_until(cond, timeout_s=10.0, interval_s=0.1, what="condition"):
    """Calls cond() until it returns a truthy value (returned) or timeout_s
    passes (raises Timeout naming `what` and the last value or exception).
    Exceptions from cond() count as "not yet", except Fatal."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            last = cond()
            if last:
                return last
        except Fatal:
            raise
        except Exception as e:  # keep trying: the server may be starting
            last = e
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout_s} s waiting for {what}; last: {last!r}")
        time.sleep(interval_s)


# ---------------------------------------------------------------- ports


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count):
    """The first of `count` consecutive TCP ports all free on 127.0.0.1, from
    a random base (ctest runs two jobs at once; they must not collide). The
    range stays below Linux's ephemeral ports (32768 and up), which outgoing
    connections take at any moment."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20000, 32000 - count)
        held = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


def port_is_listening(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- processes


PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies, so that
    nothing outlives an interrupted or killed test run."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Process:
    """A child process in its own session with stdout/stderr in files (no
    pipe can fill up and block it). It is killed if the test process dies."""

    def __init__(self, argv, name, env=None, cwd=None):
        self.argv = list(argv)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"airlock-e2e-{name}-")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            env=full_env,
            cwd=cwd or self.dir,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pid = self.popen.pid
        self.started = time.monotonic()

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout_s):
        """Exit status, or None if still running after timeout_s."""
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL this process (only this one: its own pid) and reap it."""
        if self.alive():
            try:
                self.popen.kill()
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass

    def stdout(self):
        return self._read(self.stdout_path)

    def stderr(self):
        return self._read(self.stderr_path)

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines=40):
        return "\n".join(self.stderr().splitlines()[-lines:])


class ProcessGroup:
    """Every process a test starts; close() kills the ones still running and
    removes their directories (logs, data) unless AIRLOCK_E2E_KEEP=1."""

    def __init__(self):
        self.procs = []
        self.dirs = []

    def start(self, argv, name, **kw):
        p = Process(argv, name, **kw)
        self.procs.append(p)
        self.dirs.append(p.dir)
        return p

    def temp_dir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.dirs.append(d)
        return d

    def stop_all(self):
        """SIGTERM (then SIGKILL after 3 s) every process still running."""
        for p in reversed(self.procs):
            if p.alive():
                p.signal(signal.SIGTERM)
                if p.wait(3) is None:
                    p.kill()
            p.kill()  # reaps and closes files

    def close(self):
        self.stop_all()
        if os.environ.get("AIRLOCK_E2E_KEEP") != "1":
            for d in self.dirs:
                shutil.rmtree(d, ignore_errors=True)
            self.dirs = []


def sanitizer_report(text):
    """The first line of a sanitizer report in text, or None."""
    for line in text.splitlines():
        for m in SANITIZER_MARKERS:
            if m in line:
                return line
    return None


# ---------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


# ---------------------------------------------------------------- credentials

E2E_ADMIN = "e2e-admin"
E2E_PASSWORD = "e2e-password-0123456789"

# The API token of the gateway listening on each port (set by Airlock), so
# that helpers add "Authorization: Bearer ..." without every test passing it.
_TOKENS = {}
AUTO = object()


def provision_admin(data_dir, user=E2E_ADMIN, password=E2E_PASSWORD, role="admin"):
    """Creates (if needed) a user in data_dir and returns a new API token of
    theirs, with the CLI a person would use."""
    os.makedirs(data_dir, exist_ok=True)
    subprocess.run(
        [airlock_bin(), "user", "add", user, "--role", role, "--password-stdin",
         "--data", data_dir],
        input=password + "\n", capture_output=True, text=True, timeout=60,
    )  # fails harmlessly when the user exists
    r = subprocess.run(
        [airlock_bin(), "token", "create", "--user", user, "--name", f"e2e-{os.getpid()}",
         "--data", data_dir],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, f"airlock token create failed: {r.stderr}"
    return r.stdout.strip()


def token_for_url(url):
    return _TOKENS.get(urllib.parse.urlsplit(url).port)


def http_get(url, timeout_s=5.0, method="GET", token=AUTO, headers=None, data=None):
    """A request with urllib; 4xx/5xx are returned, not raised. The token of
    the gateway on that port is sent unless token is given (None: none)."""
    if token is AUTO:
        token = token_for_url(url)
    req = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return Response(r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers.items()), e.read())


def raw_http(port, data, timeout_s=5.0, host="127.0.0.1"):
    """Sends raw bytes, reads until the server closes or timeout_s passes.
    Returns (status or None, header dict, body bytes, raw bytes)."""
    chunks = []
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close while we are still sending
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
    raw = b"".join(chunks)
    return parse_http_response(raw) + (raw,)


def parse_http_response(raw):
    """(status, headers, body) of one raw HTTP/1.x response; (None, {}, b"")
    when nothing or no status line came. Chunked bodies are decoded."""
    if not raw.startswith(b"HTTP/"):
        return None, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, {}, b""
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2 :]
        body = out
    return status, headers, body


class SseClient:
    """A minimal server-sent-events reader over a raw socket."""

    def __init__(self, url, timeout_s=10.0, token=AUTO):
        u = urllib.parse.urlsplit(url)
        if token is AUTO:
            token = token_for_url(url)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout_s)
        path = u.path + ("?" + u.query if u.query else "")
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n{auth}"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        self.buf = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.decoded = b""
        self._read_head()

    def _recv(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError("stream closed by the server")
        return b

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.buf = rest

    def _pump(self):
        """Moves more body bytes into self.decoded (dechunking)."""
        if not self.chunked:
            if self.buf:
                self.decoded += self.buf
                self.buf = b""
                return
            self.decoded += self._recv()
            return
        while True:
            if b"\r\n" in self.buf:
                size_line, _, rest = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    raise EOFError("stream ended (last chunk)")
                if len(rest) >= size + 2:
                    self.decoded += rest[:size]
                    self.buf = rest[size + 2 :]
                    return
            self.buf += self._recv()

    def next_event(self, timeout_s=10.0):
        """The next event as (event name, data string); comments are skipped."""
        deadline = time.monotonic() + timeout_s
        while True:
            norm = self.decoded.replace(b"\r\n", b"\n")
            if b"\n\n" in norm:
                block, _, rest = norm.partition(b"\n\n")
                self.decoded = rest
                name, data = "message", []
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "event":
                        name = v
                    elif k == "data":
                        data.append(v)
                if not data and name == "message":
                    continue  # a comment-only block (keep-alive)
                return name, "\n".join(data)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no complete server-sent event in time")
            self.sock.settimeout(left)
            self._pump()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- YAML


def _yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars; lists of scalars are
    written inline ([a, b])."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{k}:")
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
                out.append(f"{pad}{k}:")
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                out.append(f"{pad}{k}: [{', '.join(_yaml_scalar(x) for x in v)}]")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 2).splitlines()
                out.append(f"{pad}- {body[0].lstrip()}")
                out.extend(body[1:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def modbus_device(name, port, tags=None, groups=None, interval_ms=200, **overrides):
    """A device entry with test-friendly defaults (short timeouts and
    back-off). Either `tags` (one poll group "main") or `groups`."""
    dev = {
        "name": name,
        "protocol": "modbus-tcp",
        "host": "127.0.0.1",
        "port": port,
        "unit_id": 1,
        "timeout_ms": 400,
        "retries": 0,
        "backoff_initial_ms": 200,
        "backoff_max_ms": 800,
        "namespace": f"e2e/site/area/line/{name}",
    }
    dev.update(overrides)
    if groups is None:
        groups = [{"name": "main", "interval_ms": interval_ms, "tags": tags or []}]
    dev["poll_groups"] = groups
    return dev


def gateway_config(devices, http_port=None, name="e2e", log_level="info", data_dir=None):
    cfg = {"gateway": {"name": name, "log_level": log_level}}
    if data_dir:
        cfg["gateway"]["data_dir"] = data_dir
    if http_port is not None:
        cfg["http"] = {"listen": f"127.0.0.1:{http_port}"}
    cfg["devices"] = devices
    return to_yaml(cfg) + "\n"


# ---------------------------------------------------------------- the daemon


class Airlock:
    """One `airlock run` process with its HTTP port."""

    def __init__(self, group, args, http_port=None, name="airlock", env=None):
        self.http_port = http_port or free_port()
        self.data_dir = group.temp_dir("airlock-e2e-data-")
        argv = [airlock_bin(), "run", *args, "--http", f"127.0.0.1:{self.http_port}"]
        if "--data" not in args:
            argv += ["--data", self.data_dir]
        else:
            self.data_dir = args[args.index("--data") + 1]
        # Every route but health needs credentials: an admin and a token,
        # made with the CLI before the gateway starts.
        self.token = provision_admin(self.data_dir)
        _TOKENS[self.http_port] = self.token
        self.proc = group.start(argv, name, env=env)
        self.base = f"http://127.0.0.1:{self.http_port}"

    def url(self, path):
        return self.base + path

    def get(self, path, timeout_s=5.0):
        try:
            return http_get(self.url(path), timeout_s=timeout_s)
        except OSError:
            self.assert_alive()
            raise

    def assert_alive(self):
        """Raises Fatal with the end of its stderr if airlock has exited."""
        if not self.proc.alive():
            raise Fatal(
                f"airlock exited with status {self.proc.returncode()};"
                f" stderr:\n{self.proc.stderr_tail(60)}"
            )

    def get_json(self, path, timeout_s=5.0):
        r = self.get(path, timeout_s)
        assert r.status == 200, f"GET {path}: expected 200, got {r.status}: {r.body[:300]!r}"
        return r.json()

    def tags(self, prefix=None):
        """{path: tag object} of GET /api/v1/tags."""
        q = "/api/v1/tags"
        if prefix is not None:
            q += "?prefix=" + urllib.parse.quote(prefix, safe="")
        return {t["path"]: t for t in self.get_json(q)["tags"]}

    def tag(self, path):
        return self.get_json("/api/v1/tags/" + urllib.parse.quote(path, safe="/"))

    def health(self):
        return self.get_json("/api/v1/health")

    def device_health(self, name):
        for d in self.health()["devices"]:
            if d["name"] == name:
                return d
        raise KeyError(f"device {name} not in /api/v1/health")

    def metrics(self):
        r = self.get("/metrics")
        assert r.status == 200, f"GET /metrics: {r.status}"
        return r.text()

    def wait_ready(self, timeout_s=20.0):
        """Waits until /api/v1/health answers 200; fails at once if the
        process exited."""

        # Our process must say it serves this address: with tests running
        # in parallel another test's gateway may have taken a "free" port
        # first, and its answers must not be taken for ours.
        banner = f"dashboard and API at http://127.0.0.1:{self.http_port}/"

        def ready():
            self.assert_alive()
            if banner not in self.proc.stderr():
                return False
            try:
                return self.get("/api/v1/health", timeout_s=2).status == 200
            except OSError:
                return False

        deadline = time.monotonic() + timeout_s
        while True:
            if ready():
                return self
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"airlock HTTP on port {self.http_port} not ready after {timeout_s} s;"
                    f" stderr:\n{self.proc.stderr_tail()}"
                )
            time.sleep(0.1)

    def wait_tags(self, cond, timeout_s=10.0, what="tags", prefix=None):
        """Waits until cond({path: tag}) is truthy; returns the tag dict."""
        holder = {}

        def check():
            holder["tags"] = self.tags(prefix)
            return cond(holder["tags"])

        try:
            wait_until(check, timeout_s=timeout_s, what=what)
        except Timeout as e:
            raise Timeout(f"{e}\ncurrent tags: {summarize_tags(holder.get('tags', {}))}") from None
        return holder["tags"]

    def stop(self, sig=signal.SIGTERM, timeout_s=3.0):
        """Sends sig and waits; returns (exit status or None, seconds taken)."""
        t0 = time.monotonic()
        self.proc.signal(sig)
        rc = self.proc.wait(timeout_s)
        return rc, time.monotonic() - t0

    def stderr(self):
        return self.proc.stderr()

    def assert_clean_stderr(self):
        line = sanitizer_report(self.proc.stderr())
        assert line is None, f"sanitizer report in airlock's stderr: {line}\n{self.proc.stderr_tail(80)}"


def summarize_tags(tags):
    return "; ".join(
        f"{p}={t.get('value')!r}/{t.get('quality')}" for p, t in sorted(tags.items())
    )[:3000]


# ---------------------------------------------------------------- peers


def start_peer(group, script, args, port, name, timeout_s=15.0):
    """Starts tests/e2e/peers/<script> with this interpreter (the one with
    pymodbus) and waits until `port` accepts connections."""
    p = group.start([sys.executable, os.path.join(PEERS, script), *args], name)

    def up():
        if not p.alive():
            raise Fatal(f"peer {name} exited with {p.returncode()}: {p.stderr_tail()}")
        return port_is_listening(port)

    try:
        wait_until(up, timeout_s=timeout_s, what=f"peer {name} listening on {port}")
    except Timeout:
        raise AssertionError(f"peer {name} not listening on {port}: {p.stderr_tail()}") from None
    return p


def start_modbus_peer(group, port, spec, name="modbus-peer", tmpdir=None):
    """A pymodbus server (peers/modbus_peer.py) on 127.0.0.1:port serving
    spec (see that script)."""
    if tmpdir is None:
        tmpdir = group.temp_dir("airlock-e2e-spec-")
    fd, path = tempfile.mkstemp(prefix="peer-spec-", suffix=".json", dir=tmpdir)
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)
    return start_peer(group, "modbus_peer.py", ["--port", str(port), "--spec", path], port, name)


def start_raw_peer(group, port, mode, name="raw-peer"):
    """peers/raw_peer.py: a Modbus-looking TCP server misbehaving in `mode`."""
    return start_peer(group, "raw_peer.py", ["--port", str(port), "--mode", mode], port, name)


def run_airlock(args, timeout_s=30.0, env=None):
    """Runs airlock to completion (check, --help...). CompletedProcess."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [airlock_bin(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=full_env,
    )


def write_file(directory, name, text):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- metrics


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            labels_text, _, value_text = rest.rpartition("}")
            labels = {}
            i = 0
            while i < len(labels_text):
                eq = labels_text.index("=", i)
                key = labels_text[i:eq].strip().lstrip(",").strip()
                assert labels_text[eq + 1] == '"', f"bad label syntax: {line}"
                j = eq + 2
                val = ""
                while labels_text[j] != '"':
                    if labels_text[j] == "\\":
                        j += 1
                        val += {"n": "\n"}.get(labels_text[j], labels_text[j])
                    else:
                        val += labels_text[j]
                    j += 1
                labels[key] = val
                i = j + 1
                while i < len(labels_text) and labels_text[i] in ", ":
                    i += 1
        else:
            name, _, value_text = line.partition(" ")
            labels = {}
        value_text = value_text.strip().split()[0]
        out.append((name.strip(), labels, float(value_text)))
    return out


def metric_values(text, name, **labels):
    """Values of every sample of `name` whose labels include `labels`."""
    return [
        v
        for n, ls, v in parse_metrics(text)
        if n == name and all(ls.get(k) == str(want) for k, want in labels.items())
    ]
