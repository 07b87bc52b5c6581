"""Serving the app as a public service (issue 13): one queue for every model call, a fair share per
client, request bodies bounded in size and time, sessions and files that expire.

app.py calls, in this order:
    share_one_queue(demo, CONCURRENCY)          every event in one concurrency group of CONCURRENCY calls
    demo.queue(..., api_open=False)             direct /gradio_api/run/<api> calls refused (404)
    demo.launch(..., **launch_kwargs())         the guard middleware, 404 for unknown api names, the sweeper

Everything here works on Gradio 6.31's own objects (its queue, its state holder, its upload folder);
each function says which. Limits are constants below (the README's "Limits" lists them).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
from pathlib import Path

from .inputs import MAX_FILE_BYTES

MODEL_GROUP = "model"                      # the one concurrency group every event runs in
JOBS_PER_CLIENT = int(os.environ.get("MMDEMO_JOBS_PER_CLIENT", 20))   # queued + running, per client address (load.py runs 16)
BODIES_PER_CLIENT = int(os.environ.get("MMDEMO_BODIES_PER_CLIENT", 16))  # request bodies being received at once
MAX_UPLOAD_BODY = MAX_FILE_BYTES + 2**20   # a multipart body: one file of MAX_FILE_BYTES + form overhead
MAX_OTHER_BODY = 2**20                     # any other body (JSON of a queue join: text, file references)
BODY_IDLE_SECONDS = float(os.environ.get("MMDEMO_BODY_IDLE_SECONDS", 10))   # no byte of the body for this long: dropped (408)
BODY_TOTAL_SECONDS = 120.0                 # the whole body must arrive within this (50 MiB at >= 0.45 MB/s)
SESSION_CAPACITY = 1000                    # Gradio's per-session state objects kept at most (it defaults to 10,000)
CLOSED_SESSION_SECONDS = 10                # a session with no heartbeat connection is dropped after this
TRUSTED_PROXIES = {a.strip() for a in os.environ.get("MMDEMO_TRUSTED_PROXIES", "").split(",") if a.strip()}
RANGE = re.compile(r"bytes=\s*(\d+-\d*|-\d+)\s*(,\s*(\d+-\d*|-\d+)\s*)*")


class ModelCalls:
    """How many event functions run right now, and the most at once since start (GET /healthz)."""

    def __init__(self):
        self.running = self.peak = self.total = 0
        self.lock = threading.Lock()

    def wrap(self, fn):
        @functools.wraps(fn)             # keeps the signature Gradio inspects (gr.Request, gr.SelectData ...)
        def counted(*args, **kwargs):
            with self.lock:
                self.running += 1
                self.total += 1
                self.peak = max(self.peak, self.running)
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1
        return counted


MODEL_CALLS = ModelCalls()
OPEN_HEARTBEATS: dict[str, int] = {}       # session hash -> heartbeat connections open now (a page or client is there)


def share_one_queue(demo, limit: int) -> None:
    """Put every event of the app in one concurrency group of `limit`: Gradio's limit is per group
    (by default per event), so with one group per endpoint six heavy calls ran at once. Sets each
    BlockFunction's concurrency_id/limit (Gradio reads them when the first event of a group is queued)."""
    for block_fn in demo.fns.values():
        block_fn.concurrency_id = MODEL_GROUP
        block_fn.concurrency_limit = limit
        if block_fn.fn is not None and not asyncio.iscoroutinefunction(block_fn.fn):
            block_fn.fn = MODEL_CALLS.wrap(block_fn.fn)


def client_address(scope) -> str:
    """The client's address: the socket peer, or the last X-Forwarded-For entry when the peer is a
    trusted reverse proxy (MMDEMO_TRUSTED_PROXIES, comma-separated; e.g. a Space's proxy)."""
    peer = (scope.get("client") or ("unknown",))[0]
    if peer in TRUSTED_PROXIES:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for" and value.strip():
                return value.decode("latin-1").split(",")[-1].strip()
    return peer


def jobs_of(queue, address: str) -> int:
    """Events of one client address waiting in Gradio's queue or running (Queue internals, Gradio 6.31)."""
    waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
    running = [e for jobs in (queue.active_jobs or []) if jobs for e in jobs]
    return sum(1 for e in waiting + running
               if getattr(e, "request", None) is not None and client_address(e.request.scope) == address)


# ---------------------------------------------------------------- the guard (ASGI middleware)
try:
    from starlette.formparsers import MultiPartException
except ImportError:                       # pragma: no cover - starlette always ships it with Gradio
    MultiPartException = Exception


class BodyRejected(MultiPartException):
    """Raised while a request body is read. A MultiPartException, so Gradio's multipart parser deletes
    the partial upload files it had started (it does so only for that exception); the guard answers
    `status` when no response has started yet."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class BodyReader:
    """A `receive` that bounds the request body: at most `limit` bytes, no pause longer than
    BODY_IDLE_SECONDS, all of it within BODY_TOTAL_SECONDS; a client that goes away mid-body raises too."""

    def __init__(self, receive, limit: int):
        self.raw, self.limit = receive, limit
        self.seen, self.done = 0, False
        self.deadline = time.monotonic() + BODY_TOTAL_SECONDS

    async def receive(self):
        if self.done:                               # after the body: disconnect polling, unbounded
            return await self.raw()
        wait = max(0.0, min(BODY_IDLE_SECONDS, self.deadline - time.monotonic()))
        try:
            message = await asyncio.wait_for(self.raw(), timeout=wait)
        except asyncio.TimeoutError:
            raise BodyRejected(408, "The request body arrived too slowly; it was dropped.") from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyRejected(413, f"The request body exceeds the maximum allowed size of {self.limit} bytes.")
            self.done = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.done = True
            raise BodyRejected(400, "The client went away before its request body arrived.")
        return message


async def send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def without_deep_link(scope) -> dict:
    """The scope without a `deep_link` query parameter: Gradio would pre-fill the page with the
    outputs saved under that link, so a link could show another person chosen content."""
    query = scope.get("query_string", b"")
    if b"deep_link" not in query:
        return scope
    kept = [p for p in query.split(b"&") if p.split(b"=", 1)[0] != b"deep_link"]
    return {**scope, "query_string": b"&".join(kept)}


def is_queue_join(method: str, path: str) -> bool:
    """A request that adds an event to Gradio's queue: /queue/join, or POST /call/<api> (the REST form)."""
    return method == "POST" and (path.endswith("/queue/join") or "/gradio_api/call/" in path)


class Guard:
    """ASGI middleware in front of Gradio's routes (installed through launch(app_kwargs=...)):
    /healthz; deep links off; malformed Range headers refused (416); request bodies bounded in size
    (Content-Length checked before reading, then counted while streaming) and in time; at most
    BODIES_PER_CLIENT bodies at once and JOBS_PER_CLIENT queued + running events per client address
    (429), so one client cannot fill the queue for everyone."""

    def __init__(self, app, demo=None):
        self.app, self.demo = app, demo
        self.join_locks: dict[str, list] = {}
        self.open_bodies: dict[str, int] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/healthz":
            return await send_json(send, 200, health(self.demo))
        if scope["path"].rstrip("/").endswith("/deep_link"):
            return await send_json(send, 404, {"detail": "Deep links are disabled on this server."})
        scope = without_deep_link(scope)
        headers = dict(scope.get("headers", []))
        if b"range" in headers and not RANGE.fullmatch(headers[b"range"].decode("latin-1").strip()):
            return await send_json(send, 416, {"detail": "Malformed Range header."})
        if scope["method"] == "GET" and "/heartbeat/" in scope["path"]:
            return await self.heartbeat(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = MAX_UPLOAD_BODY if multipart else MAX_OTHER_BODY
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            return await send_json(send, 413, {"detail": f"The request body exceeds the maximum allowed size "
                                                         f"of {limit} bytes."})
        address = client_address(scope)
        if self.open_bodies.get(address, 0) >= BODIES_PER_CLIENT:
            return await send_json(send, 429, {"detail": "Too many requests from your address at once."})
        self.open_bodies[address] = self.open_bodies.get(address, 0) + 1
        try:
            if is_queue_join(scope["method"], scope["path"]):
                await self.join(address, scope, receive, send, limit)
            else:
                await self.guarded(scope, receive, send, limit)
        finally:
            self.open_bodies[address] -= 1
            if not self.open_bodies[address]:
                del self.open_bodies[address]

    async def heartbeat(self, scope, receive, send):
        """Gradio's heartbeat stream stays open while a page (or gradio_client) is there: count it per
        session, so drop_idle_sessions knows which sessions still have someone behind them."""
        session = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        OPEN_HEARTBEATS[session] = OPEN_HEARTBEATS.get(session, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            OPEN_HEARTBEATS[session] -= 1
            if not OPEN_HEARTBEATS[session]:
                del OPEN_HEARTBEATS[session]

    async def join(self, address, scope, receive, send, limit):
        """One queue join per client address at a time (so the count below is exact), refused when
        that address already has JOBS_PER_CLIENT events queued or running."""
        entry = self.join_locks.setdefault(address, [asyncio.Lock(), 0])   # [lock, requests using it]
        entry[1] += 1
        try:
            async with entry[0]:
                queue = getattr(self.demo, "_queue", None)
                if queue is not None and jobs_of(queue, address) >= JOBS_PER_CLIENT:
                    return await send_json(send, 429, {"detail": f"Too many requests from your address in the queue "
                                                                 f"(at most {JOBS_PER_CLIENT}); wait for them to finish."})
                await self.guarded(scope, receive, send, limit)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self.join_locks[address]

    async def guarded(self, scope, receive, send, limit):
        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, BodyReader(receive, limit).receive, tracked_send)
        except BodyRejected as e:
            if not started:
                await send_json(send, e.status, {"detail": e.message})


def health(demo) -> dict:
    """GET /healthz: model calls running now and at most at once since start, events queued, sessions kept."""
    queue = getattr(demo, "_queue", None)
    holder = getattr(demo, "state_holder", None)
    return {"model_calls_running": MODEL_CALLS.running, "model_calls_peak": MODEL_CALLS.peak,
            "model_calls_total": MODEL_CALLS.total, "queued": len(queue) if queue is not None else None,
            "sessions": len(holder.session_data) if holder is not None else None}


# ---------------------------------------------------------------- expiry: sessions and files
def upload_folder() -> Path:
    """Where Gradio 6.31 writes uploads, partial uploads and drawn outputs (gradio.utils.get_upload_folder)."""
    from gradio.utils import get_upload_folder
    return Path(get_upload_folder())


def kept_files(demo) -> set[str]:
    """Files Gradio keeps for the app's lifetime (the examples' cached copies), as Gradio's own
    delete_cache computes them (components' keep_in_cache)."""
    return {str(p) for block in demo.blocks.values() for p in getattr(block, "keep_in_cache", ())}


def sweep_files(folder: Path, age: float, keep: set[str]) -> int:
    """Delete every file under `folder` older than `age` seconds (by ctime) except `keep`, and
    empty folders older than that; returns how many files went. Unlike Gradio's delete_cache this
    also finds files Gradio does not track: partial uploads of clients that went away, files of a
    previous run that was killed, deep-link state."""
    if not folder.is_dir():
        return 0
    now, removed, emptied = time.time(), 0, set()    # emptied: folders this sweep removed files from
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                if path not in keep and now - os.lstat(path).st_ctime > age:
                    os.remove(path)
                    removed += 1
                    emptied.add(root)
        for name in dirs:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):       # not empty, or gone already
                if path in emptied or now - os.lstat(path).st_mtime > age:
                    os.rmdir(path)
                    emptied.add(root)
    return removed


def drop_idle_sessions(demo, open_seconds: float, closed_seconds: float = CLOSED_SESSION_SECONDS) -> int:
    """Drop Gradio's per-session state (a copy of the app's config, ~0.4 MB measured, plus gr.State
    values) for sessions not used for `open_seconds` while their heartbeat is connected, or for
    `closed_seconds` without one (a page that went away, an API call; Gradio itself keeps a closed
    session for an hour and one that never had a heartbeat until 10,000 sessions exist). Sessions
    with events in the queue are kept. Gradio 6.31's StateHolder internals."""
    holder, queue = demo.state_holder, demo._queue
    busy = {s for s, events in list(queue.pending_event_ids_session.items()) if events}
    now, dropped = time.time(), 0
    with holder.lock:
        for session_id in list(holder.session_data):
            state = holder.session_data[session_id]
            last = holder.time_last_used.get(session_id)
            idle = now - last.timestamp() if last else float("inf")
            alive = session_id in OPEN_HEARTBEATS and not state.is_closed
            if session_id not in busy and idle > (open_seconds if alive else closed_seconds):
                holder.delete_state(session_id)          # gr.State values: their delete callbacks
                del holder.session_data[session_id]
                holder.time_last_used.pop(session_id, None)
                forget_queue_entries(queue, session_id)
                dropped += 1
    return dropped


def forget_queue_entries(queue, session_id: str) -> None:
    """Gradio's queue keeps, per session that ever queued an event, an (empty) set of event ids and a
    message queue, for the life of the process; drop them with the session when nothing is pending."""
    if not queue.pending_event_ids_session.get(session_id):
        queue.pending_event_ids_session.pop(session_id, None)
        messages = queue.pending_messages_per_session.get(session_id)
        if messages is not None and messages.empty():
            queue.pending_messages_per_session.pop(session_id, None)


def sweeper(demo, cache_seconds: float):
    """A lifespan for Gradio's App: sweep the upload folder at start-up, then every
    min(cache_seconds, 60) s sweep files and every 5 s idle sessions; at shutdown a last sweep of every
    file but the kept ones, however new (a request's upload or output; the process is going away)."""
    folder = upload_folder()
    every = max(1.0, min(cache_seconds, 60.0))

    async def sweep_forever():
        last_files = time.monotonic()
        while True:
            await asyncio.sleep(min(5.0, every))
            try:                                     # a failed sweep is reported; the next one still runs
                drop_idle_sessions(demo, open_seconds=cache_seconds)
                if time.monotonic() - last_files >= every:
                    await asyncio.to_thread(sweep_files, folder, cache_seconds, kept_files(demo))
                    last_files = time.monotonic()
            except Exception:
                logging.getLogger("mmdemo").exception("sweep failed")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(sweep_files, folder, cache_seconds, kept_files(demo))
        task = asyncio.create_task(sweep_forever())
        try:
            yield
        finally:
            task.cancel()
            sweep_files(folder, 0.0, kept_files(demo))   # stopping: no request's file is needed any more
    return lifespan


def last_sweep(demo) -> None:
    """Every file of the upload folder but the kept ones, however new, once the server has stopped:
    Gradio's close() waits only 5 s for its server thread, so with requests in flight the lifespan's
    own last sweep may never run before the process exits."""
    sweep_files(upload_folder(), 0.0, kept_files(demo))


# ---------------------------------------------------------------- unknown api names
class KnownFunctions(dict):
    """Gradio's table of event functions, answering an unknown index with FnIndexInferError (-> 404)
    instead of KeyError (-> 500). Per-session copies (copy.copy) keep the class."""

    def __missing__(self, key):
        from gradio.route_utils import FnIndexInferError
        raise FnIndexInferError(f"No function with index {key!r}.")


async def not_found(request, exc):
    from fastapi.responses import JSONResponse
    return JSONResponse({"detail": "No such API endpoint."}, status_code=404)


def launch_kwargs(demo, cache_seconds: float) -> dict:
    """Keyword arguments for demo.launch(): the guard, 404 for unknown endpoints, the sweeper,
    the session capacity."""
    from gradio.route_utils import FnIndexInferError
    from starlette.middleware import Middleware
    demo.default_config.fns = KnownFunctions(demo.default_config.fns)
    return {"state_session_capacity": SESSION_CAPACITY,
            "app_kwargs": {"middleware": [Middleware(Guard, demo=demo)],
                           "exception_handlers": {FnIndexInferError: not_found},
                           "lifespan": sweeper(demo, cache_seconds)}}


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (what a container or a Space sends to stop the app) as Ctrl-C: Gradio's launch()
    then closes the server, which runs the shutdown (Gradio deletes the files it tracks, the sweeper
    sweeps once more). Python's default for SIGTERM ends the process with no cleanup at all.
    Main thread only (signal handlers can only be set there)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
