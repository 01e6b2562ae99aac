#!/usr/bin/env python3
"""The guide form's submission path against a bare Flask app inserting the same lead row.

    .venv/bin/python bench/submission_vs_bare.py [--database-url URL] [--rounds 5]
    .venv/bin/python bench/submission_vs_bare.py --profile 500

Needs wrk. Migrates a fresh database (SQLite in a temporary folder unless --database-url names
one; a PostgreSQL database named there is dropped and created again), then starts two
gunicorns with gunicorn.conf.py and the same worker count: the product (wsgi:app) and
bench/bare_insert_app.py, which imports nothing of the product and inserts the same row into
the same `lead` table. wrk POSTs the guide form (cookie and tokens from one GET) with a new
email every request, --rounds times (bare then product in odd rounds, product then bare in
even ones, so that a machine that speeds up or slows down during the run favours neither),
and prints req/s, p50 and p99 for each, the ratio product/bare per round and its median
(the target: at least 0.3).
The outbox sender is off (OUTBOX_IN_PROCESS=false), as in submission_speed.py: the product
queues the guide email in the same transaction; delivering it is not the path measured.

Beside each run's rate it prints the CPU time per request of that server's gunicorn
(master and workers) and of PostgreSQL's processes (read from /proc before and after).

Then it counts, for each run, the rows whose email carries that run's prefix: every 303 wrk
saw must be one lead (none lost), no email may be stored twice, and at most one request per
connection may be stored without wrk having seen its answer (in flight when wrk stopped).
Anything else, or any non-3xx answer, fails the run (exit status 1).

--profile N instead posts the form N times in-process (Flask's test client, same settings,
fresh SQLite) under cProfile, and prints the per-post time beside the bare app's and the
calls that take the most of it.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import os
import pstats
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from article_speed import migrated_database, start_gunicorn, to_ms
from sqlalchemy import MetaData, Table, create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent

# A new address every request (prefix per run, thread, counter); the 303s wrk saw, summed
# over its threads, printed at the end for the count of leads.
LUA = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
counter = 0
answered = 0
request = function()
  counter = counter + 1
  local email = "PREFIX-" .. tid .. "-" .. counter .. "%%40load.example"
  local body = string.gsub(wrk.body, "EMAIL", email)
  return wrk.format(nil, nil, nil, body)
end
response = function(status, headers, body)
  if status == 303 then answered = answered + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("answered") end
  io.write("ANSWERED303 " .. total .. "\\n")
end
"""


def bench_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "RATELIMIT_ENABLED": "false",
        "FORM_MIN_FILL_SECONDS": "0",
        "OUTBOX_IN_PROCESS": "false",  # queue only: delivery is not the path measured here
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "text",
    }


def make_person(url: str) -> int:
    """The one person every bare row names (the lead's foreign key needs one)."""
    engine = create_engine(url)
    person = Table("person", MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(
            person.insert().values(
                email_normalized="bare-insert@bench.example", created_at=func.now()
            )
        )
        found = conn.execute(
            select(person.c.id).where(person.c.email_normalized == "bare-insert@bench.example")
        ).scalar_one()
    engine.dispose()
    return found


def wait_for_post(port: int, seconds: float = 30) -> None:
    """Until gunicorn's workers answer (a GET the bare app has no route for: 404 or 405)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not come up on port {port}")


def form_body(port: int) -> tuple[str, str]:
    """The product's guide form as a browser would post it, and the visit cookie."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/guide")
    page = conn.getresponse()
    cookie = page.getheader("Set-Cookie").split(";")[0]
    html = page.read().decode()
    fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
    fields.update({"guide-first_name": "Load", "guide-website": ""})
    return urllib.parse.urlencode(fields) + "&guide-email=EMAIL", cookie


def run_wrk(
    url: str, args: argparse.Namespace, script: Path, seconds: int | None = None
) -> dict[str, float]:
    seconds = seconds or args.seconds
    # A 10 s timeout (wrk's default is 2 s): a slow answer is still an answer, and counted.
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s"]
    command.append("--latency")
    out = subprocess.run(
        [*command, "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    if "ANSWERED303" not in out or "50%" not in out:
        raise SystemExit("wrk printed something unexpected:\n" + out)
    non3xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "answered": int(re.search(r"ANSWERED303 (\d+)", out).group(1)),
        "non3xx": int(non3xx.group(1)) if non3xx else 0,
        "socket_errors": errors.group(0) if errors else 0,
    }


def count_leads(engine, prefix: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Rows, distinct emails and queued emails for one run's prefix, once they stop changing
    (the requests in flight when wrk stopped finish on the server)."""
    query = text(
        "SELECT count(*), count(DISTINCT email), (SELECT count(*) FROM outbox_email o "
        "JOIN lead l ON o.lead_id = l.id WHERE l.email LIKE :p) FROM lead WHERE email LIKE :p"
    )
    before = None
    while True:
        with engine.connect() as db:  # one statement: one snapshot of both tables
            counts = tuple(db.execute(query, {"p": f"{prefix}-%"}).one())
        if counts == before:
            return counts
        before = counts
        time.sleep(1)


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time used so far (user + system, from /proc) by the server's gunicorn (master and
    workers) and by every PostgreSQL process: read before and after a run, it says where
    the machine's time per request went. (Linux only; empty elsewhere.)"""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {"server": 0.0, "postgres": 0.0}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == server_pid or int(fields[1]) == server_pid:
            used["server"] += seconds
        elif name.startswith("postgres"):
            used["postgres"] += seconds
    return used


def one_run(label: str, port: int, args, lua_head: str, engine) -> dict:  # type: ignore[no-untyped-def]
    """wrk against one server, then its leads counted; problems listed under "faults"."""
    prefix = secrets.token_hex(4)
    script = Path(args.tmp) / f"post-{prefix}.lua"
    script.write_text(lua_head + LUA.replace("PREFIX", prefix))
    before = cpu_seconds(args.server_pids[label])
    figures = run_wrk(f"http://127.0.0.1:{port}/guide", args, script)
    after = cpu_seconds(args.server_pids[label])
    figures["cpu"] = {k: (after[k] - before[k]) / figures["requests"] * 1e6 for k in after}
    rows, distinct, queued = count_leads(engine, prefix)
    lost = max(0, figures["answered"] - distinct)
    unseen = distinct - figures["answered"]
    faults = []
    if lost or rows != distinct:
        faults.append(f"{lost} lost, {rows - distinct} duplicated")
    if unseen > args.connections:
        faults.append(f"{unseen} stored without an answer (more than one per connection)")
    if figures["non3xx"] or figures["socket_errors"]:
        faults.append(f"non-3xx {figures['non3xx']}, socket errors: {figures['socket_errors']}")
    if label == "product" and queued != rows:
        faults.append(f"{rows} leads but {queued} emails queued")
    return {**figures, "rows": rows, "distinct": distinct, "queued": queued, "faults": faults}


def print_run(rnd: int, label: str, run: dict) -> None:
    print(
        f"round {rnd} {label:<7} {run['rps']:7.0f} req/s  p50 {run['p50']:7.2f} ms  "
        f"p99 {run['p99']:7.2f} ms  303s {run['answered']:5d}  leads {run['rows']:5d} "
        f"(distinct {run['distinct']}, emails queued {run['queued']})  CPU us/request: "
        f"server {run['cpu']['server']:.0f}, postgres {run['cpu']['postgres']:.0f}"
        + (f"  FAULT: {'; '.join(run['faults'])}" if run["faults"] else "")
    )


def measure(args: argparse.Namespace, url: str, env: dict[str, str]) -> bool:
    """The interleaved rounds against both servers; True when no run had a fault."""
    engine = create_engine(url)
    body, cookie = form_body(args.port)
    lua_head = (
        f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
        f"wrk.headers['Content-Type'] = 'application/x-www-form-urlencoded'\n"
        f"wrk.headers['Cookie'] = '{cookie}'\n"
    )
    servers = {"bare": args.port + 1, "product": args.port}
    ok, ratios = True, []
    for label, port in servers.items():  # warm-up, not counted: imports, pools, caches
        script = Path(args.tmp) / f"warm-up-{label}.lua"
        script.write_text(lua_head + LUA.replace("PREFIX", "warmup-" + secrets.token_hex(4)))
        run_wrk(f"http://127.0.0.1:{port}/guide", args, script, seconds=2)
    for rnd in range(1, args.rounds + 1):
        runs = {}
        order = list(servers.items())
        for label, port in order if rnd % 2 else order[::-1]:
            runs[label] = one_run(label, port, args, lua_head, engine)
            print_run(rnd, label, runs[label])
            ok = ok and not runs[label]["faults"]
        ratios.append(runs["product"]["rps"] / runs["bare"]["rps"])
        print(f"round {rnd} ratio product/bare {ratios[-1]:.2f}")
    print(
        f"ratio product/bare per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f} (target >= 0.3)"
    )
    engine.dispose()
    return ok


def compare(args: argparse.Namespace) -> int:
    url = args.database_url or f"sqlite:///{Path(args.tmp) / 'bench.sqlite3'}"
    env = bench_env(url)
    migrated_database(url, env)
    bare_env = {**env, "BARE_PERSON_ID": str(make_person(url))}
    log = Path(args.tmp) / "server.log"
    product = start_gunicorn(args.workers, args.port, env, log, app="wsgi:app")
    bare = start_gunicorn(args.workers, args.port + 1, bare_env, log, "bench.bare_insert_app:app")
    args.server_pids = {"product": product.pid, "bare": bare.pid}
    print(
        f"database: {url.split('://')[0]}; gunicorn sync x{args.workers} each; wrk -t2 "
        f"-c{args.connections} -d{args.seconds}s, guide form, a new email each request; "
        f"load average at start {os.getloadavg()}"
    )
    try:
        wait_for_post(args.port)
        wait_for_post(args.port + 1)
        ok = measure(args, url, env)
    finally:
        for server in (product, bare):
            server.send_signal(signal.SIGTERM)
        for server in (product, bare):
            server.wait(timeout=30)
    verdict = "none" if ok else "SEE FAULTS ABOVE"
    print(f"load average at end {os.getloadavg()}; leads lost or duplicated: {verdict}")
    return 0 if ok else 1


def profile(args: argparse.Namespace) -> int:
    """N guide posts in-process under cProfile; the bare app's per-post time beside it."""
    url = f"sqlite:///{Path(args.tmp) / 'profile.sqlite3'}"
    env = bench_env(url)
    migrated_database(url, env)
    os.environ.update({**env, "BARE_PERSON_ID": str(make_person(url))})
    sys.path.insert(0, str(ROOT))
    import bare_insert_app

    from spine_site import create_app

    product = create_app().test_client()
    html = product.get("/guide").get_data(as_text=True)
    fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
    fields.update({"guide-first_name": "Load", "guide-website": ""})
    bare = bare_insert_app.app.test_client()
    bare.set_cookie("spine_visit", "l=%2Fguide")

    def post(client, tag: str, count: int) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for i in range(count):
            answer = client.post("/guide", data={**fields, "guide-email": f"{tag}-{i}@p.example"})
            assert answer.status_code == 303, answer.status_code
        return (time.perf_counter() - started) / count * 1000

    post(product, "warm", 50), post(bare, "warmbare", 50)
    per_bare = post(bare, "bare", args.profile)
    per_product = post(product, "timed", args.profile)
    print(
        f"in-process, SQLite, {args.profile} posts each: product {per_product:.2f} ms a post, "
        f"bare insert {per_bare:.2f} ms ({per_bare / per_product:.2f} of the product's time)"
    )
    profiler = cProfile.Profile()
    profiler.runcall(post, product, "profiled", args.profile)
    stats = pstats.Stats(profiler)
    total = max(ct for _, _, _, ct, _ in stats.stats.values())
    top = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)
    print(f"{'cumulative':>10} {'share':>6} {'calls':>7}  function (under the posting loop)")
    shown = [
        (where, line, name, calls, cumulative)
        for (path, line, name), (_, calls, _, cumulative, _) in top
        if re.search(args.match, (where := "/".join(Path(path).parts[-2:])) + ":" + name)
    ]
    for where, line, name, calls, cumulative in shown[: args.top]:
        print(f"{cumulative:9.3f}s {cumulative / total:6.1%} {calls:7d}  {where}:{line} {name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8093, help="the product; the bare app +1")
    parser.add_argument("--profile", type=int, metavar="N", help="profile N posts in-process")
    parser.add_argument("--top", type=int, default=45, help="functions the profile lists")
    parser.add_argument("--match", default="", help="regex: list only functions it finds")
    args = parser.parse_args()
    args.tmp = tempfile.mkdtemp(prefix="spine-submission-vs-bare-")
    return profile(args) if args.profile else compare(args)


if __name__ == "__main__":
    sys.exit(main())
