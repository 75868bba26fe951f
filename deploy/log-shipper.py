#!/usr/bin/env python3
# Ships this seedbox's logs to CloudWatch Logs, so they outlive the instance (which deletes its volumes
# when it ends): the setup log, and the journal of the t2s-* units (deluged, deluge-web, the seedbox).
# One stream per instance. Runs under the AWS CLI's venv (botocore); it reads the region, the endpoint
# and the metadata service from the environment like every AWS client here.
# A JSON line keeps its fields (the services log {"job": <id>, ...}), with "unit" added; other lines
# become {"unit", "msg"}. So `{ $.job = "<id>" }` finds a job's lines, and Deluge's mention its hash.
import json, os, queue, signal, subprocess, sys, threading, time
import botocore.session

GROUP = os.environ.get("T2S_LOG_GROUP", "")
STREAM = os.environ.get("T2S_SEEDBOX_ID") or os.uname().nodename
SETUP_LOG = os.environ.get("T2S_SETUP_LOG", "/var/log/t2s-setup.log")
STATE = os.path.join(os.environ.get("STATE_DIRECTORY", "/var/lib/t2s-logs"), "state.json")
# PutLogEvents takes at most 10 000 events and 1 MiB (with 26 bytes per event) per call.
MAX_EVENTS, MAX_BYTES, MAX_EVENT = 5000, 900_000, 200_000

lines = queue.Queue()
stop = threading.Event()
children = []


def load_state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def event(unit, text, ms):
    try:
        rec = json.loads(text)
    except ValueError:
        rec = None
    rec = {**rec, "unit": unit} if isinstance(rec, dict) else {"unit": unit, "msg": text}
    return {"timestamp": ms, "message": json.dumps(rec)[:MAX_EVENT]}


def follow_journal(cursor):
    args = ["journalctl", "-f", "-o", "json", "--no-pager"] + (["--after-cursor", cursor] if cursor else ["-b", "-n", "all"])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    children.append(proc)
    for raw in proc.stdout:
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        unit = (e.get("_SYSTEMD_UNIT") or "").removesuffix(".service")
        msg = e.get("MESSAGE")
        if not unit.startswith("t2s-") or unit == "t2s-logs" or not isinstance(msg, str):
            continue
        lines.put(("cursor", e.get("__CURSOR"), event(unit, msg, int(e["__REALTIME_TIMESTAMP"]) // 1000)))


def follow_setup(offset):
    while not stop.is_set():
        try:
            with open(SETUP_LOG, errors="replace") as f:
                f.seek(offset)
                for text in f:
                    if not text.endswith("\n"):
                        break
                    offset += len(text.encode())
                    lines.put(("setup", offset, event("t2s-setup", text.rstrip("\n"), int(time.time() * 1000))))
        except OSError:
            pass
        stop.wait(2)


def main():
    if not GROUP:
        # A host set up without the stack's log group (a test boot, a host of your own): nothing to do.
        print("t2s-logs: T2S_LOG_GROUP is not set; not shipping", file=sys.stderr)
        return 0
    # botocore reads AWS_DEFAULT_REGION only; the services' environment sets AWS_REGION.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client = botocore.session.get_session().create_client("logs", region_name=region)
    try:
        client.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    except client.exceptions.ResourceAlreadyExistsException:
        pass
    state = load_state()
    threading.Thread(target=follow_journal, args=(state.get("cursor"),), daemon=True).start()
    threading.Thread(target=follow_setup, args=(state.get("setup", 0),), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    batch, size, next_state = [], 0, dict(state)
    deadline = time.monotonic() + 5
    while True:
        try:
            kind, pos, ev = lines.get(timeout=0.5)
            batch.append(ev)
            size += len(ev["message"]) + 26
            next_state[kind] = pos
        except queue.Empty:
            pass
        ending = stop.is_set()
        if batch and (ending or len(batch) >= MAX_EVENTS or size >= MAX_BYTES or time.monotonic() >= deadline):
            batch.sort(key=lambda e: e["timestamp"])
            try:
                client.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=batch)
                batch, size = [], 0
                os.makedirs(os.path.dirname(STATE), exist_ok=True)
                with open(STATE + ".tmp", "w") as f:
                    json.dump(next_state, f)
                os.replace(STATE + ".tmp", STATE)
            except Exception as err:  # kept and sent again; the journal keeps the lines meanwhile
                print(f"t2s-logs: put_log_events failed ({type(err).__name__}); retrying", file=sys.stderr)
                if ending:
                    return 1
                stop.wait(5)
        if time.monotonic() >= deadline:
            deadline = time.monotonic() + 5
        if ending and not batch:
            return 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for c in children:
            c.terminate()
    sys.exit(code)
